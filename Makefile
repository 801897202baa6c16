# tlsrptd: build, test and install (GNU make).
#
#   make                 build into bin/, libexec/tlsrptd/ and build/
#   make check           unit tests (cmocka), then end-to-end tests (pytest)
#   make check-asan      the same under AddressSanitizer and UBSan
#   make check-valgrind  the pipeline and DKIM end-to-end tests with the
#                        daemons under valgrind
#   make demo            run the suite on the bundled sample datagrams
#   make fuzz            build the libFuzzer targets into build/fuzz/
#   make fuzz-run        run each of them for FUZZ_SECONDS (default 30)
#   make bench           build the receiver benchmark's sender and sink
#                        into $(OBJ)/bench/; bench/receiver.py runs it
#   make install         honours PREFIX, SYSCONFDIR and DESTDIR
#   make uninstall       removes it again, except the configuration and
#                        the queue
#
# Build variants keep their objects apart: OUT names the tree that holds
# bin/ and libexec/, and the daemons are found relative to bin/tlsrptd, so
# every variant runs from where it was built without an install step.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/tlsrptd
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc/tlsrptd
DESTDIR ?=

OUT ?= .
OBJ ?= build/obj

# Quiet build lines; "make V=1" shows the full commands.
ifeq ($(V),1)
Q =
else
Q = @
endif

CC ?= cc
CFLAGS ?= -O2 -g
PYTHON ?= /usr/bin/python3
PKGS = libssl libcrypto zlib libcjson libidn2

WARNINGS = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
HARDENING ?= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDENING ?= -pie -Wl,-z,relro,-z,now
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(HARDENING) $(CFLAGS) \
	-Isrc/util $(PKG_CFLAGS) -DTLSRPTD_CONFIG_DIR='"$(SYSCONFDIR)"'
ALL_LDFLAGS = $(LDHARDENING) $(LDFLAGS)
LIBS = $(PKG_LIBS) -ldb-5.3 -lpthread -lm

DAEMONS = master receiver aggregator reporter mailer
COMMANDS = tlsrptd tlsrpt-queue tlsrpt-send

UTIL_SRC = $(wildcard src/util/*.c)
UTIL_OBJ = $(UTIL_SRC:%.c=$(OBJ)/%.o)
LIBUTIL = $(OBJ)/libtlsrptd.a

# The admin directory holds three commands; each has its own main file and
# shares the other admin sources.
ADMIN_MAINS = src/admin/tlsrptd.c src/admin/tlsrpt_queue.c \
	src/admin/tlsrpt_send.c
ADMIN_SHARED = $(filter-out $(ADMIN_MAINS),$(wildcard src/admin/*.c))
ADMIN_SHARED_OBJ = $(ADMIN_SHARED:%.c=$(OBJ)/%.o)

DAEMON_BINS = $(DAEMONS:%=$(OUT)/libexec/tlsrptd/%)
COMMAND_BINS = $(COMMANDS:%=$(OUT)/bin/%)

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(OBJ)/tests/%)

DEPS_STAMP = build/.deps-build

.PHONY: all deps check unit e2e check-asan check-valgrind demo install \
	clean fuzz fuzz-run

all: $(DAEMON_BINS) $(COMMAND_BINS)

$(DEPS_STAMP): scripts/deps.sh
	@scripts/deps.sh build
	@mkdir -p $(dir $@) && touch $@

deps: $(DEPS_STAMP)

$(OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBUTIL): $(UTIL_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

# Each daemon is every .c file of its directory.
define daemon_rule
$(OUT)/libexec/tlsrptd/$(1): $(patsubst %.c,$(OBJ)/%.o,$(wildcard src/$(1)/*.c)) $(LIBUTIL)
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $$@ $$^ $(LIBS)
endef
$(foreach daemon,$(DAEMONS),$(eval $(call daemon_rule,$(daemon))))

$(OUT)/bin/tlsrptd: $(OBJ)/src/admin/tlsrptd.o $(ADMIN_SHARED_OBJ) $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(OUT)/bin/tlsrpt-queue: $(OBJ)/src/admin/tlsrpt_queue.o $(ADMIN_SHARED_OBJ) $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(OUT)/bin/tlsrpt-send: $(OBJ)/src/admin/tlsrpt_send.o $(ADMIN_SHARED_OBJ) $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(OBJ)/tests/%: tests/unit/%.c $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< \
		$(LIBUTIL) $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

# The aggregator's unit tests (test_store, test_aggregator_*) also link
# the aggregator's modules, from an archive so that only what a test uses
# is pulled in; aggregator.c, which has main(), is left out.
AGGREGATOR_MODULE_OBJ = $(patsubst %.c,$(OBJ)/%.o,$(filter-out \
	src/aggregator/aggregator.c,$(wildcard src/aggregator/*.c)))
LIBAGGREGATOR = $(OBJ)/libaggregator.a
AGGREGATOR_TESTS = $(filter $(OBJ)/tests/test_store \
	$(OBJ)/tests/test_aggregator_%,$(UNIT_BINS))

$(LIBAGGREGATOR): $(AGGREGATOR_MODULE_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(AGGREGATOR_TESTS): $(OBJ)/tests/%: tests/unit/%.c $(LIBAGGREGATOR) \
		$(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc/aggregator -Wno-missing-prototypes \
		$(ALL_LDFLAGS) -o $@ $< $(LIBAGGREGATOR) $(LIBUTIL) $(LIBS) \
		$(shell pkg-config --libs cmocka 2>/dev/null)

# test_day_status also links the admin modules that it tests.
DAY_STATUS_TEST_OBJ = $(OBJ)/src/admin/day_status.o \
	$(OBJ)/src/admin/admin_request.o

$(OBJ)/tests/test_day_status: tests/unit/test_day_status.c \
		$(DAY_STATUS_TEST_OBJ) $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc/admin -Wno-missing-prototypes \
		$(ALL_LDFLAGS) -o $@ $< $(DAY_STATUS_TEST_OBJ) $(LIBUTIL) \
		$(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

# test_queue_listing and test_receiver_socket link the one module that
# each tests.
$(OBJ)/tests/test_queue_listing: tests/unit/test_queue_listing.c \
		$(OBJ)/src/admin/queue_listing.o $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc/admin -Wno-missing-prototypes \
		$(ALL_LDFLAGS) -o $@ $< $(OBJ)/src/admin/queue_listing.o \
		$(LIBUTIL) $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

$(OBJ)/tests/test_receiver_socket: tests/unit/test_receiver_socket.c \
		$(OBJ)/src/receiver/receiver_socket.o $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc/receiver -Wno-missing-prototypes \
		$(ALL_LDFLAGS) -o $@ $< $(OBJ)/src/receiver/receiver_socket.o \
		$(LIBUTIL) $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

# The mailer's unit tests (test_smtp_*, test_http_*, test_address_class)
# link the mailer's modules the same way; mailer.c, which has main(), is
# left out.
MAILER_MODULE_OBJ = $(patsubst %.c,$(OBJ)/%.o,$(filter-out \
	src/mailer/mailer.c,$(wildcard src/mailer/*.c)))
LIBMAILER = $(OBJ)/libmailer.a
MAILER_TESTS = $(filter $(OBJ)/tests/test_smtp_% \
	$(OBJ)/tests/test_http_% $(OBJ)/tests/test_address_class,$(UNIT_BINS))

$(LIBMAILER): $(MAILER_MODULE_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(MAILER_TESTS): $(OBJ)/tests/%: tests/unit/%.c $(LIBMAILER) $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc/mailer -Wno-missing-prototypes \
		$(ALL_LDFLAGS) -o $@ $< $(LIBMAILER) $(LIBUTIL) $(LIBS) \
		$(shell pkg-config --libs cmocka 2>/dev/null)

build/.deps-test: scripts/deps.sh
	@scripts/deps.sh test
	@mkdir -p $(dir $@) && touch $@

unit: build/.deps-test $(UNIT_BINS)
	@set -e; for test in $(UNIT_BINS); do \
		TLSRPTD_TEST_DATA=tests/data $$test; done

e2e: build/.deps-test all
	TLSRPTD_ROOT=$(abspath $(OUT)) $(PYTHON) -m pytest -q tests/e2e

# The disk fault tests (tests/e2e/test_faults*.py) preload this library
# into the daemons to make their writes fail (tests/faults/fault_shim.c).
# It is built without the sanitizers of a check-asan build, and the tests
# find it under $(OUT).
FAULT_SHIM = $(OUT)/libexec/tlsrptd-test/fault_shim.so

.PHONY: fault-shim
fault-shim: $(FAULT_SHIM)
e2e: $(FAULT_SHIM)

$(FAULT_SHIM): tests/faults/fault_shim.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 -g -fPIC -shared \
		-o $@ $< -ldl -lpthread

check: unit e2e

check-asan:
	$(MAKE) OUT=build/asan OBJ=build/asan/obj \
		CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
		HARDENING='-fPIE' LDFLAGS='-fsanitize=address,undefined' check

check-valgrind: all build/.deps-test
	TLSRPTD_ROOT=$(abspath $(OUT)) TLSRPTD_VALGRIND=1 \
		$(PYTHON) -m pytest -q tests/e2e/test_pipeline.py \
		tests/e2e/test_dkim.py

demo: all
	@scripts/demo.sh

# The receiver benchmark's tools are standalone programs that link
# nothing of the suite, so that they measure it from the outside.
BENCH_BINS = $(OBJ)/bench/sender $(OBJ)/bench/sink

.PHONY: bench
bench: $(BENCH_BINS)

$(OBJ)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c11 $(WARNINGS) $(HARDENING) $(CFLAGS) \
		$(ALL_LDFLAGS) -o $@ $<

# The report benchmark's builder links the suite's library: it times
# building reports without writing delivery files (bench/report_bench.py).
bench: $(OBJ)/bench/report_build

$(OBJ)/bench/report_build: bench/report_build.c $(LIBUTIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBUTIL) $(LIBS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(OUT)/bin/tlsrptd $(OUT)/bin/tlsrpt-queue \
		$(DESTDIR)$(SBINDIR)/
	install -m 0755 $(OUT)/bin/tlsrpt-send $(DESTDIR)$(BINDIR)/
	install -m 0755 $(DAEMON_BINS) $(DESTDIR)$(LIBEXECDIR)/
	@for file in main.cf master.cf; do \
		if [ -e $(DESTDIR)$(SYSCONFDIR)/$$file ]; then \
			echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/$$file"; \
		else \
			install -m 0644 conf/$$file $(DESTDIR)$(SYSCONFDIR)/; \
		fi; \
	done

# Fuzzing with clang's libFuzzer: "make fuzz" builds one target per
# parser of outside input (tests/fuzz/fuzz_*.c) into build/fuzz/, and
# "make fuzz-run" runs each for FUZZ_SECONDS (see tests/fuzz/run.sh). The
# library is compiled apart, with coverage and sanitizers but without
# libFuzzer's main(), which only the targets link. The SMTP reply and HTTP
# response targets are built once their parsers exist in src/mailer.
FUZZ_CC ?= clang
FUZZ_OUT = build/fuzz
FUZZ_OBJ = $(FUZZ_OUT)/obj
FUZZ_SANITIZERS = address,undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) -O1 -g \
	-fno-omit-frame-pointer -fno-sanitize-recover=all -Isrc/util \
	-Isrc/mailer -Itests/fuzz $(PKG_CFLAGS) \
	-DTLSRPTD_CONFIG_DIR='"$(SYSCONFDIR)"'
FUZZ_MAILER_SRC = $(wildcard src/mailer/smtp_reply.c src/mailer/http_url.c \
	src/mailer/http_response.c)
FUZZ_LIB_OBJ = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(UTIL_SRC) \
	$(FUZZ_MAILER_SRC) tests/fuzz/fuzz_support.c)
FUZZ_LIB = $(FUZZ_OBJ)/libtlsrptd-fuzz.a
FUZZ_MAILER_TARGETS = tests/fuzz/fuzz_smtp_reply.c tests/fuzz/fuzz_http_url.c \
	tests/fuzz/fuzz_http_response.c
FUZZ_SRC = $(filter-out tests/fuzz/fuzz_support.c $(FUZZ_MAILER_TARGETS), \
	$(wildcard tests/fuzz/fuzz_*.c)) \
	$(filter $(FUZZ_MAILER_SRC:src/mailer/%=tests/fuzz/fuzz_%), \
	$(FUZZ_MAILER_TARGETS))
FUZZ_BINS = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_OUT)/%)

fuzz: $(FUZZ_BINS) $(FUZZ_OUT)/seed_writer

fuzz-run: fuzz
	FUZZ_BUILD=$(FUZZ_OUT) tests/fuzz/run.sh

$(FUZZ_OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) \
		-fsanitize=fuzzer-no-link,$(FUZZ_SANITIZERS) -MMD -MP -c \
		-o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

# The seed writer uses the library without libFuzzer; see its header.
$(FUZZ_OUT)/seed_writer: tests/fuzz/seed_writer.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SANITIZERS) \
		-MMD -MP -MF $@.d -MT $@ -o $@ $< $(FUZZ_LIB) $(LIBS)

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SANITIZERS) \
		-MMD -MP -MF $@.d -MT $@ -o $@ $< $(FUZZ_LIB) $(LIBS)

# "make install" also installs the manual pages, the file manifest that
# "tlsrptd check" reads (replaced on every install, like Postfix's
# postfix-files) and the systemd unit, with ExecStart set to SBINDIR.
# SYSTEMDUNITDIR defaults to PREFIX/lib/systemd/system, a directory that
# systemd reads for PREFIX=/usr and for PREFIX=/usr/local.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MAN_PAGES = $(wildcard man/*.1 man/*.5 man/*.8)

.PHONY: install-extras
install: install-extras

install-extras:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR)
	@for page in $(MAN_PAGES); do \
		section=$${page##*.}; \
		echo "install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$section/"; \
		install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$section/ || exit 1; \
	done
	install -m 0644 conf/tlsrptd-files $(DESTDIR)$(SYSCONFDIR)/
	sed 's|@SBINDIR@|$(SBINDIR)|g' conf/tlsrptd.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/tlsrptd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/tlsrptd.service

# "make uninstall" removes what "make install" installed, with the same
# PREFIX, SYSCONFDIR and DESTDIR, except main.cf, master.cf and the queue:
# the configuration and the queued reports stay until the administrator
# removes them.
.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tlsrptd $(DESTDIR)$(SBINDIR)/tlsrpt-queue \
		$(DESTDIR)$(BINDIR)/tlsrpt-send
	rm -f $(DAEMONS:%=$(DESTDIR)$(LIBEXECDIR)/%)
	rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true
	@for page in $(MAN_PAGES); do \
		section=$${page##*.}; \
		echo "rm -f $(DESTDIR)$(MANDIR)/man$$section/$${page##*/}"; \
		rm -f $(DESTDIR)$(MANDIR)/man$$section/$${page##*/}; \
	done
	rm -f $(DESTDIR)$(SYSCONFDIR)/tlsrptd-files \
		$(DESTDIR)$(SYSTEMDUNITDIR)/tlsrptd.service
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/main.cf, master.cf and the queue" \
		"directory (queue_directory); remove them by hand if no" \
		"longer needed"

clean:
	rm -rf build bin libexec

-include $(UTIL_OBJ:.o=.d) $(wildcard $(OBJ)/src/*/*.d)
-include $(wildcard $(FUZZ_OBJ)/src/*/*.d $(FUZZ_OBJ)/tests/fuzz/*.d \
	$(FUZZ_OUT)/*.d)
