# SPDX-License-Identifier: GPL-2.0
# What the Makefiles of the test programs share (test/vm, test/fuzz,
# test/perm, test/criu, bench): the flags, the build directory $(O)
# outside the source tree, libkhopages.a, the objects and their
# dependency files, the guest manifest, clean.
#
# The including Makefile sets, before `include`:
#   NAME          objects in $(O)/NAME-obj, manifest guest-manifests/NAME.list
#   SRC           its own directory (absolute)
#   PROGS         the programs, each built as $(O)/PROG
#   PROG_SRCS     (per program, optional) its sources, absolute paths
#                 anywhere in the tree; default $(SRC)/PROG.c
#   LIBKHOPAGES   non-empty: link libkhopages.a
#   GUEST_FILES   (optional) more files for the guest, "HOST_PATH:GUEST_PATH"
#   LDLIBS        (optional) more libraries
# and gets the targets all (default), manifest and clean. Every program
# links test/lib/ktap.o, the TAP report helper.

KHOPAGES_CACHE ?= /var/cache/khopages
O ?= $(KHOPAGES_CACHE)/build/user

# Absolute paths, so the Makefiles work from any directory (make -C, -f).
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
OUT := $(abspath $(O))
OBJ := $(OUT)/$(NAME)-obj
LIBDIR := $(TOP)/lib/libkhopages
LIB := $(OUT)/libkhopages.a
MANIFEST := $(abspath $(OUT)/..)/guest-manifests/$(NAME).list

CFLAGS ?= -O2 -g
# Not overridable: the project's standard. -I comes before the system
# directories, so linux/khopages.h is always the one from this tree.
override CFLAGS += -std=c11 -Wall -Wextra -Werror
override CPPFLAGS += -D_GNU_SOURCE -I$(LIBDIR) -I$(TOP)/include/uapi -I$(TOP)/test/lib

# A program's sources (absolute) and objects: $(OBJ)/<path in the tree>.o,
# so two sources of one name in different directories cannot collide.
prog_srcs = $(abspath $(or $($(1)_SRCS),$(SRC)/$(1).c) $(TOP)/test/lib/ktap.c)
prog_objs = $(patsubst $(TOP)/%.c,$(OBJ)/%.o,$(call prog_srcs,$(1)))
ALL_OBJS := $(sort $(foreach p,$(PROGS),$(call prog_objs,$(p))))
BINS := $(PROGS:%=$(OUT)/%)

.PHONY: all manifest clean FORCE
# Keep the objects: a rebuild compiles only what changed.
.SECONDARY:

all: $(BINS)

$(OBJ)/%.o: $(TOP)/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<
	@# Name the checkout as $$(TOP): a cache shared by two checkouts works.
	@sed -i 's|$(TOP)/|$$(TOP)/|g' $(@:.o=.d)

# libkhopages.a is linked statically.
define prog_rule
$(OUT)/$(1): $(call prog_objs,$(1)) $(if $(LIBKHOPAGES),$(LIB))
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(if $(LIBKHOPAGES),$(LIB)) $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

# The library has its own Makefile; ask it every time (it knows when the
# archive is up to date; we relink only when the archive changed).
$(LIB): FORCE
	$(MAKE) -C $(LIBDIR) O=$(OUT) $(LIB)

manifest: $(BINS)
	mkdir -p $(dir $(MANIFEST))
	{ $(foreach p,$(PROGS),echo "$(OUT)/$(p) /usr/bin/$(p)";) \
	  $(foreach f,$(GUEST_FILES),echo "$(subst :, ,$(f))";) } >$(MANIFEST)

clean:
	rm -rf $(OBJ)
	rm -f $(BINS) $(MANIFEST)

-include $(ALL_OBJS:.o=.d)
