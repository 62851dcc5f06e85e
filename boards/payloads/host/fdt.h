/*
 * A small read-only flattened device tree reader (Devicetree Specification,
 * chapter 5).  A node is the offset of its FDT_BEGIN_NODE token in the
 * structure block; -1 means none.
 */
#ifndef FDT_H
#define FDT_H

#include "arch.h"

struct fdt {
	const u8 *blob;
	const u8 *structs;
	const char *strings;
	u32 struct_size;
	u32 total_size;
};

bool fdt_open(struct fdt *fdt, u64 address);

/* Walking */
int fdt_next_node(const struct fdt *fdt, int node, int *depth);
int fdt_first_child(const struct fdt *fdt, int node);
int fdt_next_sibling(const struct fdt *fdt, int node);
int fdt_parent(const struct fdt *fdt, int node);
const char *fdt_name(const struct fdt *fdt, int node);

/* Finding */
int fdt_path(const struct fdt *fdt, const char *path, size_t len);
int fdt_find_compatible(const struct fdt *fdt, int after, const char *compatible);
bool fdt_is_compatible(const struct fdt *fdt, int node, const char *compatible);

/* Reading */
const void *fdt_prop(const struct fdt *fdt, int node, const char *name, u32 *len);
const char *fdt_string(const struct fdt *fdt, int node, const char *name);
u32 fdt_u32(const struct fdt *fdt, int node, const char *name, u32 fallback);
u64 fdt_cells(const void *cells, int n);
bool fdt_reg(const struct fdt *fdt, int node, int index, u64 *address, u64 *size);
bool fdt_interrupt(const struct fdt *fdt, int node, int index, u32 *intid);

#endif
