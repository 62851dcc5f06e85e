/*
 * Setup shared by the guest payloads.  All they know comes from the DTB: the
 * console is the PL011 that /chosen/stdout-path (or the serial0 alias) names,
 * PSCI's conduit is /psci's method, and their parameters are "key=value"
 * words of /chosen/bootargs (name=... is the name every line starts with).
 */
#include "guest.h"
#include "lib.h"

struct fdt dt;
char guest_name[32];

static int find_console(void)
{
	const char *path = fdt_string(&dt, fdt_path(&dt, "/chosen", 7), "stdout-path");
	size_t len = 0;
	int node;

	if (!path)
		path = "serial0";
	while (path[len] && path[len] != ':')
		len++;
	node = fdt_path(&dt, path, len);
	if (node < 0 || !fdt_is_compatible(&dt, node, "arm,pl011"))
		node = fdt_find_compatible(&dt, -1, "arm,pl011");
	return node;
}

void guest_init(u64 dtb, u64 entry_current_el, const char *default_name, const char *what)
{
	int uart;
	u64 base;
	size_t len;
	const char *name;

	if (!fdt_open(&dt, dtb))
		halt();
	uart = find_console();
	if (uart < 0 || !fdt_reg(&dt, uart, 0, &base, NULL))
		halt();	/* nowhere to say so */
	console_init(base);
	name = bootarg("name", &len);
	if (!name || !len || len >= sizeof(guest_name)) {
		name = default_name;
		len = strlen(name);
	}
	memcpy(guest_name, name, len);
	say("%s at EL%u (CurrentEL 0x%lx)", what, current_el(), read_sysreg(CurrentEL));
	if (entry_current_el != read_sysreg(CurrentEL))
		say("entered at EL%lu, dropped to EL%u", entry_current_el >> 2, current_el());
	say("console pl011 at 0x%lx", base);
	psci_init(&dt);
}

/* The value of the first "key=value" word of /chosen/bootargs, not NUL-terminated. */
const char *bootarg(const char *key, size_t *len)
{
	const char *s = fdt_string(&dt, fdt_path(&dt, "/chosen", 7), "bootargs");
	size_t klen = strlen(key);

	while (s && *s) {
		size_t n = 0;

		while (s[n] && s[n] != ' ')
			n++;
		if (n > klen && !strncmp(s, key, klen) && s[klen] == '=') {
			*len = n - klen - 1;
			return s + klen + 1;
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	return NULL;
}

/* A decimal or 0x-prefixed hexadecimal number at *s (before end); *s moves past it. */
u64 parse_number(const char **s, const char *end)
{
	const char *p = *s;
	u64 v = 0, base = 10;

	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; p < end; p++) {
		char c = *p;
		u64 d = c >= '0' && c <= '9' ? (u64)(c - '0') : c >= 'a' && c <= 'f' ? (u64)(c - 'a' + 10)
			: c >= 'A' && c <= 'F' ? (u64)(c - 'A' + 10) : 16;

		if (d >= base)
			break;
		v = v * base + d;
	}
	*s = p;
	return v;
}

void power_off(void)
{
	if (psci_present()) {
		say("SYSTEM_OFF over %s", psci_conduit());
		psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);
		say("SYSTEM_OFF returned; halting");
	} else {
		say("no PSCI to power off with; halting");
	}
	halt();
}

void panic(u64 esr, u64 elr, u64 far, u64 vector)
{
	say("panic: exception at vector 0x%lx, ESR 0x%lx, ELR 0x%lx, FAR 0x%lx", vector, esr, elr, far);
	halt();
}
