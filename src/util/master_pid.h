/*
 * master_pid: the lock that marks a running master.
 *
 * The master holds an exclusive fcntl() write lock on pid/master.pid in
 * the queue directory for as long as it runs, and writes its process ID
 * there. The lock, not the file's content, shows whether a master runs: a
 * file left behind by a master that was killed is not locked, so it never
 * blocks a new start. The control command asks the kernel who holds the
 * lock (F_GETLK), which also works when the file's content is stale.
 *
 * pid/status is the master's report of its services, rewritten as a
 * whole (temporary file and rename) whenever a service changes state.
 * Its lines are a documented interface:
 *
 *	service     pid     state      restarts  status
 *	receiver    1235    ready      0         received=3 corrupt=0
 *
 * pid is "-" when no process runs; state is one of starting, ready,
 * waiting, throttled and stopping; restarts counts restarts after
 * unexpected exits; status is the last "status" line the worker sent,
 * without the keyword, or "-".
 */
#ifndef TLSRPTD_MASTER_PID_H
#define TLSRPTD_MASTER_PID_H

#include <sys/types.h>

/* Paths relative to the queue directory. */
#define MASTER_PID_FILE		"pid/master.pid"
#define MASTER_STATUS_FILE	"pid/status"

int master_pid_lock(const char *path, pid_t *holder);
pid_t master_pid_holder(const char *path);

#endif
