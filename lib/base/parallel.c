/* SPDX-License-Identifier: ISC */
/*
 * A parallel for over independent work items.  Threads take items from a
 * shared counter, so the split among threads varies from run to run; the
 * callers make results independent of it (each item draws from its own
 * random stream and writes its own slice), which is how output stays the
 * same whatever the thread count.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/base.h"

#define MAX_THREADS 256

struct pool {
	fl_task_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
};

static void *
worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		p->fn(p->ctx, i);
	return NULL;
}

int
fl_parallel_for(size_t n, int nthreads, fl_task_fn fn, void *ctx,
    struct fl_error *err)
{
	pthread_t tid[MAX_THREADS];
	struct pool p;
	int started = 0, rc;

	p.fn = fn;
	p.ctx = ctx;
	p.n = n;
	atomic_init(&p.next, 0);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if ((size_t)nthreads > n)
		nthreads = (int)n;
	/* The calling thread is one of the workers. */
	for (int t = 1; t < nthreads; t++) {
		if ((rc = pthread_create(&tid[t], NULL, worker, &p)) != 0)
			break;
		started++;
	}
	worker(&p);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	(void)err;
	return 0;
}
