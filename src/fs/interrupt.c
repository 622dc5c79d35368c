/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/interrupt.h"

#include <errno.h>

#include "util/cancel.h"

/* Called by libfuse under the request's lock, from the thread that read the interrupt. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct interruptible *it = data;

	(void)req;
	atomic_store(&it->fired, true);
}

void interruptible_begin(struct interruptible *it, fuse_req_t req)
{
	atomic_init(&it->fired, false);
	it->req = req;
	cancel_on(&it->fired);
	/* Calls on_interrupt at once if the interrupt came first. */
	fuse_req_interrupt_func(req, on_interrupt, it);
}

int interruptible_end(struct interruptible *it, int r)
{
	/* Takes the request's lock: once it returns, on_interrupt is not running. */
	fuse_req_interrupt_func(it->req, NULL, NULL);
	cancel_on(NULL);
	return r < 0 && atomic_load(&it->fired) ? -EINTR : r;
}
