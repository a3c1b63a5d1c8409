# tests/fuzz/local.mk -- included by Makefile.am.
#
# Every fuzz target is built twice: as replay_X (a plain main() over
# files, run by make check on the seed corpus and on every input that
# once crashed, in every build including ASan) and, with
# --enable-fuzzing (clang), as the libFuzzer program fuzz_X, which
# tests/fuzz/run.sh runs for a bounded time.

FUZZ_REPLAY = tests/fuzz/replay_proto tests/fuzz/replay_name \
	tests/fuzz/replay_conf
check_PROGRAMS += $(FUZZ_REPLAY)
tests_fuzz_replay_proto_SOURCES = tests/fuzz/fuzz_proto.c tests/fuzz/replay.c
tests_fuzz_replay_proto_LDADD = $(COMMON_LIBS)
tests_fuzz_replay_name_SOURCES = tests/fuzz/fuzz_name.c tests/fuzz/replay.c
tests_fuzz_replay_name_LDADD = $(COMMON_LIBS)
tests_fuzz_replay_conf_SOURCES = tests/fuzz/fuzz_conf.c tests/fuzz/replay.c
tests_fuzz_replay_conf_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(INIH_CFLAGS) $(XXHASH_CFLAGS)
tests_fuzz_replay_conf_LDADD = $(DAEMON_LIBS)
tests_fuzz_replay_conf_LDFLAGS = -pthread

E2E_TESTS += tests/fuzz-replay.sh

if FUZZING
noinst_PROGRAMS = tests/fuzz/fuzz_proto tests/fuzz/fuzz_name \
	tests/fuzz/fuzz_conf
tests_fuzz_fuzz_proto_SOURCES = tests/fuzz/fuzz_proto.c
tests_fuzz_fuzz_proto_LDADD = $(COMMON_LIBS)
tests_fuzz_fuzz_proto_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_name_SOURCES = tests/fuzz/fuzz_name.c
tests_fuzz_fuzz_name_LDADD = $(COMMON_LIBS)
tests_fuzz_fuzz_name_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c
tests_fuzz_fuzz_conf_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(INIH_CFLAGS) $(XXHASH_CFLAGS)
tests_fuzz_fuzz_conf_LDADD = $(DAEMON_LIBS)
tests_fuzz_fuzz_conf_LDFLAGS = -fsanitize=fuzzer -pthread

# make fuzz FUZZ_SECONDS=N: each target for N seconds (default 30).
FUZZ_SECONDS = 30
fuzz: $(noinst_PROGRAMS)
	$(SHELL) $(srcdir)/tests/fuzz/run.sh $(abs_top_builddir) \
	    $(abs_top_srcdir) $(FUZZ_SECONDS)
endif

EXTRA_DIST += tests/fuzz/corpus tests/fuzz/regress tests/fuzz/run.sh
