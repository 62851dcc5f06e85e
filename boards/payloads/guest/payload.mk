# Rules shared by the guest payloads (guest/, probe/): each directory's
# Makefile names its payload and objects, then includes this.  start.S and
# common.c are guest/'s, the FDT reader, print(), PSCI and SMCCC the host
# payload's (../host), built here from their sources.  `make` rebuilds the
# committed $(NAME).elf (linked at 0x40080000) and $(NAME).bin (the same code
# as an arm64 Image that runs at any address) byte for byte with Debian's
# cross toolchain: no debug info, no build id, no absolute paths.
CROSS   ?= aarch64-linux-gnu-
CC      := $(CROSS)gcc
OBJCOPY := $(CROSS)objcopy
BUILD   := build
GUEST   := ../guest
HOST    := ../host

vpath %.c $(GUEST) $(HOST)
vpath %.S $(GUEST) $(HOST)

CFLAGS  := -O2 -std=gnu11 -Wall -Wextra -ffreestanding -nostdlib -mgeneral-regs-only \
	   -mstrict-align -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables \
	   -fno-tree-loop-distribute-patterns -fno-tree-switch-conversion \
	   -ffile-prefix-map=$(CURDIR)=. -I$(GUEST) -I$(HOST)
ASFLAGS := -Wall -Wextra
LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
	   -Wl,-z,max-page-size=0x1000 -Wl,-T,$(GUEST)/guest.ld

OBJS    := $(addprefix $(BUILD)/,start.o common.o smccc.o fdt.o console.o lib.o psci.o $(OBJS))
HEADERS := $(wildcard *.h $(GUEST)/*.h $(HOST)/*.h)

all: $(NAME).elf $(NAME).bin $(BUILD)/pic-checked

$(BUILD)/%.o: %.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S | $(BUILD)
	$(CC) $(ASFLAGS) -c $< -o $@

$(NAME).elf: $(OBJS) $(GUEST)/guest.ld
	$(CC) $(LDFLAGS) $(OBJS) -o $@

$(NAME).bin: $(NAME).elf
	$(OBJCOPY) -O binary $< $@

# Linked 1 GB higher, the Image must not change: nothing in it is absolute.
$(BUILD)/pic-checked: $(NAME).bin $(OBJS) $(GUEST)/guest.ld
	$(CC) $(LDFLAGS) -Wl,--defsym=LINK_BASE=0x80080000 $(OBJS) -o $(BUILD)/relinked.elf
	$(OBJCOPY) -O binary $(BUILD)/relinked.elf $(BUILD)/relinked.bin
	cmp $(NAME).bin $(BUILD)/relinked.bin
	touch $@

$(BUILD):
	mkdir -p $@

clean:
	rm -rf $(BUILD)

.PHONY: all clean
