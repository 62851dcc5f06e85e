/*
 * Flattened device tree reader.  Values are big-endian and only 4-byte
 * aligned, so they are read a byte at a time: with the MMU off every access
 * is to Device memory, where an unaligned access would fault.
 */
#include "fdt.h"
#include "lib.h"

#define FDT_MAGIC	0xd00dfeed
#define FDT_BEGIN_NODE	1
#define FDT_END_NODE	2
#define FDT_PROP	3
#define FDT_NOP		4
#define FDT_END		9
#define MAX_DEPTH	16

static u32 be32(const void *p)
{
	const u8 *b = p;

	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

u64 fdt_cells(const void *cells, int n)
{
	u64 v = 0;

	for (int i = 0; i < n; i++)
		v = v << 32 | be32((const u8 *)cells + 4 * i);
	return v;
}

bool fdt_open(struct fdt *fdt, u64 address)
{
	const u8 *blob = (const u8 *)address;

	if (!address || be32(blob) != FDT_MAGIC)
		return false;
	fdt->blob = blob;
	fdt->total_size = be32(blob + 4);
	fdt->structs = blob + be32(blob + 8);
	fdt->strings = (const char *)blob + be32(blob + 12);
	fdt->struct_size = be32(blob + 36);
	return true;
}

static u32 token(const struct fdt *fdt, int off)
{
	if (off < 0 || (u32)off + 4 > fdt->struct_size)
		return FDT_END;
	return be32(fdt->structs + off);
}

/* The offset of the token after the one at ``off``. */
static int next_token(const struct fdt *fdt, int off)
{
	switch (token(fdt, off)) {
	case FDT_BEGIN_NODE:
		return off + 4 + (int)((strlen((const char *)fdt->structs + off + 4) + 4) & ~3UL);
	case FDT_PROP:
		return off + 12 + (int)((be32(fdt->structs + off + 4) + 3) & ~3U);
	default:
		return off + 4;
	}
}

/* The next node in depth-first order after ``node`` (-1: the root); *depth follows it. */
int fdt_next_node(const struct fdt *fdt, int node, int *depth)
{
	int off = 0;

	if (node < 0)
		*depth = -1;
	else
		off = next_token(fdt, node);
	for (;;) {
		switch (token(fdt, off)) {
		case FDT_BEGIN_NODE:
			(*depth)++;
			return off;
		case FDT_END_NODE:
			(*depth)--;
			break;
		case FDT_END:
			return -1;
		}
		off = next_token(fdt, off);
	}
}

int fdt_first_child(const struct fdt *fdt, int node)
{
	int depth = 0;
	int child = fdt_next_node(fdt, node, &depth);

	return depth == 1 ? child : -1;
}

int fdt_next_sibling(const struct fdt *fdt, int node)
{
	int depth = 0;

	do
		node = fdt_next_node(fdt, node, &depth);
	while (node >= 0 && depth > 0);
	return depth == 0 ? node : -1;
}

int fdt_parent(const struct fdt *fdt, int node)
{
	int stack[MAX_DEPTH];
	int depth;

	for (int n = fdt_next_node(fdt, -1, &depth); n >= 0; n = fdt_next_node(fdt, n, &depth)) {
		if (depth >= MAX_DEPTH)
			continue;
		stack[depth] = n;
		if (n == node)
			return depth > 0 ? stack[depth - 1] : -1;
	}
	return -1;
}

const char *fdt_name(const struct fdt *fdt, int node)
{
	return (const char *)fdt->structs + node + 4;
}

const void *fdt_prop(const struct fdt *fdt, int node, const char *name, u32 *len)
{
	if (node < 0)
		return NULL;
	for (int off = next_token(fdt, node);; off = next_token(fdt, off)) {
		u32 t = token(fdt, off);

		if (t == FDT_NOP)
			continue;
		if (t != FDT_PROP)
			return NULL;
		if (!strcmp(fdt->strings + be32(fdt->structs + off + 8), name)) {
			if (len)
				*len = be32(fdt->structs + off + 4);
			return fdt->structs + off + 12;
		}
	}
}

const char *fdt_string(const struct fdt *fdt, int node, const char *name)
{
	u32 len;
	const char *s = fdt_prop(fdt, node, name, &len);

	return s && len && s[len - 1] == '\0' ? s : NULL;
}

u32 fdt_u32(const struct fdt *fdt, int node, const char *name, u32 fallback)
{
	u32 len;
	const void *p = fdt_prop(fdt, node, name, &len);

	return p && len == 4 ? be32(p) : fallback;
}

bool fdt_is_compatible(const struct fdt *fdt, int node, const char *compatible)
{
	u32 len;
	const char *s = fdt_prop(fdt, node, "compatible", &len);

	if (!s)
		return false;
	for (const char *end = s + len; s < end; s += strlen(s) + 1)
		if (!strcmp(s, compatible))
			return true;
	return false;
}

int fdt_find_compatible(const struct fdt *fdt, int after, const char *compatible)
{
	int depth = 0;

	for (int n = fdt_next_node(fdt, after, &depth); n >= 0; n = fdt_next_node(fdt, n, &depth))
		if (fdt_is_compatible(fdt, n, compatible))
			return n;
	return -1;
}

static bool has_unit_address(const char *name, size_t len)
{
	while (len--)
		if (*name++ == '@')
			return true;
	return false;
}

/* A child by name: "cpu@0" exactly, or "memory" for any "memory@...". */
static int subnode(const struct fdt *fdt, int node, const char *name, size_t len)
{
	for (int c = fdt_first_child(fdt, node); c >= 0; c = fdt_next_sibling(fdt, c)) {
		const char *n = fdt_name(fdt, c);

		if (strncmp(n, name, len))
			continue;
		if (n[len] == '\0' || (n[len] == '@' && !has_unit_address(name, len)))
			return c;
	}
	return -1;
}

/* A path ("/a/b"), or an alias ("serial0", "serial0/child"); only the first ``len`` characters count. */
int fdt_path(const struct fdt *fdt, const char *path, size_t len)
{
	int depth;
	int node = fdt_next_node(fdt, -1, &depth);
	size_t i = 0;

	if (len && path[0] != '/') {
		size_t end = 0;
		char alias[32];

		while (end < len && path[end] != '/')
			end++;
		if (end >= sizeof(alias))
			return -1;
		memcpy(alias, path, end);
		alias[end] = '\0';
		const char *target = fdt_string(fdt, fdt_path(fdt, "/aliases", 8), alias);
		if (!target || target[0] != '/')
			return -1;
		node = fdt_path(fdt, target, strlen(target));
		i = end;
	}
	while (node >= 0 && i < len) {
		size_t start;

		while (i < len && path[i] == '/')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		node = subnode(fdt, node, path + start, i - start);
	}
	return node;
}

static u32 cells_of(const struct fdt *fdt, int node, const char *name, u32 fallback)
{
	return node < 0 ? fallback : fdt_u32(fdt, node, name, fallback);
}

/* A bus address of ``bus``'s children as a CPU physical address, through every "ranges" above. */
static bool translate(const struct fdt *fdt, int bus, u64 *address)
{
	for (int parent = fdt_parent(fdt, bus); parent >= 0; bus = parent, parent = fdt_parent(fdt, bus)) {
		u32 len;
		const u8 *ranges = fdt_prop(fdt, bus, "ranges", &len);
		int ca = (int)cells_of(fdt, bus, "#address-cells", 2);
		int pa = (int)cells_of(fdt, parent, "#address-cells", 2);
		int cs = (int)cells_of(fdt, bus, "#size-cells", 1);
		u32 step = 4 * (u32)(ca + pa + cs);
		bool found = false;

		if (!ranges)
			return false;	/* no "ranges": not reachable from the CPU */
		for (u32 off = 0; len && off + step <= len; off += step) {
			u64 child = fdt_cells(ranges + off, ca);
			u64 size = fdt_cells(ranges + off + 4 * ca + 4 * pa, cs);

			if (*address >= child && *address - child < size) {
				*address = fdt_cells(ranges + off + 4 * ca, pa) + (*address - child);
				found = true;
				break;
			}
		}
		if (len && !found)
			return false;
	}
	return true;
}

bool fdt_reg(const struct fdt *fdt, int node, int index, u64 *address, u64 *size)
{
	int bus = fdt_parent(fdt, node);
	int ac = (int)cells_of(fdt, bus, "#address-cells", 2);
	int sc = (int)cells_of(fdt, bus, "#size-cells", 1);
	u32 len;
	const u8 *reg = fdt_prop(fdt, node, "reg", &len);
	u32 step = 4 * (u32)(ac + sc);

	if (!reg || (u32)(index + 1) * step > len)
		return false;
	*address = fdt_cells(reg + index * step, ac);
	if (size)
		*size = fdt_cells(reg + index * step + 4 * ac, sc);
	return translate(fdt, bus, address);
}

static int by_phandle(const struct fdt *fdt, u32 phandle)
{
	int depth;

	for (int n = fdt_next_node(fdt, -1, &depth); n >= 0; n = fdt_next_node(fdt, n, &depth))
		if (fdt_u32(fdt, n, "phandle", 0) == phandle)
			return n;
	return -1;
}

/* The interrupt parent, as Linux's of_irq_find_parent: "interrupt-parent", else the tree parent,
 * until a node with #interrupt-cells. */
static int interrupt_parent(const struct fdt *fdt, int node)
{
	do {
		u32 phandle = fdt_u32(fdt, node, "interrupt-parent", 0);

		node = phandle ? by_phandle(fdt, phandle) : fdt_parent(fdt, node);
	} while (node >= 0 && !fdt_prop(fdt, node, "#interrupt-cells", NULL));
	return node;
}

/* Interrupt ``index`` of a device whose parent is a GIC: <type number flags>, SPI (0) or PPI (1). */
bool fdt_interrupt(const struct fdt *fdt, int node, int index, u32 *intid)
{
	int gic = interrupt_parent(fdt, node);
	u32 len;
	const u8 *irqs = fdt_prop(fdt, node, "interrupts", &len);

	if (gic < 0 || !fdt_prop(fdt, gic, "interrupt-controller", NULL) || fdt_u32(fdt, gic, "#interrupt-cells", 0) != 3)
		return false;
	if (!irqs || (u32)(index + 1) * 12 > len)
		return false;
	irqs += 12 * index;
	*intid = be32(irqs + 4) + (be32(irqs) == 1 ? 16 : 32);
	return true;
}
