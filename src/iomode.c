/*
 * iomode.c -- the io modes of "io =", one table.
 *
 * A mode is a receive path (how payload leaves the socket), a sink (how
 * it reaches the staging file) and flags.  The rows are in enum io_mode
 * order; a new mode is one row here and one enumerator.
 */
#include "config.h"

#include <string.h>

#include "zcrecvd.h"

static const struct iomode iomodes[] = {
	/* direct where the filesystem can, else write; copy when the
	   payload turns out not to be mappable, and for small files */
	[IO_AUTO] = { "auto", RX_MAP, SINK_WRITE,
	    IO_PREFER_DIRECT | IO_SWITCH | IO_SMALL_COPY },
	/* mapped pages -> O_DIRECT write: no copy */
	[IO_DIRECT] = { "direct", RX_MAP, SINK_DIRECT, 0 },
	/* mapped pages -> write into the page cache */
	[IO_WRITE] = { "write", RX_MAP, SINK_WRITE, 0 },
	/* mapped pages -> vmsplice -> splice to the file */
	[IO_VMSPLICE] = { "vmsplice", RX_MAP, SINK_VMSPLICE, 0 },
	/* socket -> pipe -> file, no mapping */
	[IO_SPLICE] = { "splice", RX_SPLICE, SINK_SPLICE, 0 },
	/* recv + write, what other tools do */
	[IO_COPY] = { "copy", RX_COPY, SINK_COPY, 0 },
	/* recv into large aligned buffers -> O_DIRECT write: one copy */
	[IO_COPY_DIRECT] = { "copy-direct", RX_COPY, SINK_DIRECT, 0 },
	/* mapped pages dropped, nothing lands: benchmarks only */
	[IO_DISCARD] = { "discard", RX_MAP, SINK_DISCARD, IO_NO_FILE },
};

/* The mode of row io. */
const struct iomode *
iomode_get(int io)
{
	if (io < 0 || io > IO_LAST)
		fatalx("%s: bad io mode %d", __func__, io);
	return (&iomodes[io]);
}

/* The row of the mode called name, or -1. */
int
iomode_find(const char *name)
{
	int	 i;

	for (i = 0; i <= IO_LAST; i++)
		if (strcmp(iomodes[i].name, name) == 0)
			return (i);
	return (-1);
}

/* Name of row io. */
const char *
iomode_name(int io)
{
	return (iomode_get(io)->name);
}

/* Number of rows. */
int
iomode_count(void)
{
	return (IO_LAST + 1);
}

/*
 * The receive path and sink for a file of size bytes in mode io, on a
 * filesystem that can (dio_ok) or cannot do O_DIRECT, on a connection that
 * has (switched: it copies) or has not given up on mapping.
 */
void
iomode_choose(int io, int dio_ok, int switched, uint64_t size,
    enum rx_kind *rx, enum sink_kind *sink)
{
	const struct iomode	*m = iomode_get(io);

	*rx = m->rx;
	*sink = m->sink;
	if ((m->flags & IO_SMALL_COPY) && size < IO_COPY_BELOW) {
		*rx = RX_COPY;
		*sink = SINK_COPY;
		return;
	}
	if ((m->flags & IO_SWITCH) && switched)
		*rx = RX_COPY;
	if ((m->flags & IO_PREFER_DIRECT) && dio_ok)
		*sink = SINK_DIRECT;
}
