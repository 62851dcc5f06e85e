/*
 * dom0's PV console backend (xen_backend.c).  Wiring, for the host payload's
 * owner: xen_backend.o in the Makefile's OBJS, and in kernel_main
 * `xen_console_backend(&fdt, XEN_BACKEND_MS);` once the GIC is up.  It does
 * nothing on a tree without /hypervisor (compatible "xen,xen").
 */
#ifndef XEN_BACKEND_H
#define XEN_BACKEND_H

#include "fdt.h"

#define XEN_BACKEND_MS	100	/* how long dom0 serves its guests' consoles */

void xen_console_backend(const struct fdt *fdt, u32 ms);

#endif
