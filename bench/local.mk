# bench/local.mk -- included by Makefile.am: the benchmark (issue 4).
#
#	make bench                      peers, io modes and the disk's limit
#	make bench BENCH_ARGS='--size 1G --rounds 3'
#	make bench-scale                concurrency, many small files, idle connections
#	make bench-tree                 trees and many small files against the rsync daemon
#	make bench-tree BENCH_TREE_ARGS='--datasets 64k --rounds 1 --large none'
#	make bench-links                veth links (MTU 9000, 1500), loopback; fast, real, slow disks
#	make bench-links BENCH_LINKS_ARGS='--links 9000 --dests fast --rounds 1 --size 256M'
#	make bench-links BENCH_LINKS_ARGS='--quick --candidates zc-p1,zc-p2,zc-p4,gridftp-p1,gridftp-p4'
#	make bench-links BENCH_LINKS_ARGS='--quick --candidates zc-auto,zc-base --baseline main'
#
# Runs as root (it drops the page cache and installs the peers from Debian
# packages with apt-get if they are missing; bench-links also makes network
# namespaces, a loop device and a cgroup, and removes them).  Results go to bench/results/
# in the build tree (not committed).  See bench/README.md.
#
# The helpers are EXTRA_PROGRAMS: built by these targets only, never by
# "make", "make check" or "make install".

EXTRA_PROGRAMS = bench/cpurun bench/recvloop bench/holdconn bench/mktree
bench_cpurun_SOURCES = bench/cpurun.c
bench_recvloop_SOURCES = bench/recvloop.c
bench_holdconn_SOURCES = bench/holdconn.c
bench_mktree_SOURCES = bench/mktree.c
CLEANFILES += bench/cpurun$(EXEEXT) bench/recvloop$(EXEEXT) \
	bench/holdconn$(EXEEXT) bench/mktree$(EXEEXT)

EXTRA_DIST += bench/README.md bench/lib.sh bench/run.sh bench/scale.sh \
	bench/tree.sh bench/links.sh

BENCH_ARGS =
BENCH_SCALE_ARGS =
BENCH_TREE_ARGS =
BENCH_LINKS_ARGS =
BENCH_DEPS = zcrecvd$(EXEEXT) zcsend$(EXEEXT) bench/cpurun$(EXEEXT) \
	bench/recvloop$(EXEEXT) bench/holdconn$(EXEEXT) bench/mktree$(EXEEXT)
BENCH_COMMON = --zcrecvd $(abs_top_builddir)/zcrecvd$(EXEEXT) \
	--zcsend $(abs_top_builddir)/zcsend$(EXEEXT) \
	--helpers $(abs_top_builddir)/bench \
	--out $(abs_top_builddir)/bench/results

bench: $(BENCH_DEPS)
	bash $(srcdir)/bench/run.sh $(BENCH_COMMON) $(BENCH_ARGS)

bench-scale: $(BENCH_DEPS)
	bash $(srcdir)/bench/scale.sh $(BENCH_COMMON) $(BENCH_SCALE_ARGS)

bench-tree: $(BENCH_DEPS)
	bash $(srcdir)/bench/tree.sh $(BENCH_COMMON) $(BENCH_TREE_ARGS)

bench-links: $(BENCH_DEPS)
	bash $(srcdir)/bench/links.sh $(BENCH_COMMON) $(BENCH_LINKS_ARGS)

.PHONY: bench bench-scale bench-tree bench-links
