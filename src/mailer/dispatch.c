/*
 * dispatch: deliveries in child processes (see dispatch.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "msg.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

#define STOP_POLL_MS	50	/* checks for ended children while stopping */

static struct msg_rate fork_errors = MSG_RATE_INIT("fork failure", 10, 3600);

/* SIGCHLD only has to interrupt the poll() of the mailer's main loop. */
static void on_child(int sig)
{
	(void)sig;
}

void dispatch_init(struct dispatcher *pool, const struct mailer_keys *keys)
{
	const struct param_def *def = param_find("delivery_concurrency");
	struct sigaction action;

	memset(pool, 0, sizeof(*pool));
	pool->slot_count = def != NULL ? (size_t)def->max : 1;
	pool->slots = xcalloc(pool->slot_count, sizeof(*pool->slots));
	pool->keys = keys;

	/* SA_RESTART keeps reads and waits going. poll() returns EINTR
	 * even so, and that wakes the loop. */
	memset(&action, 0, sizeof(action));
	sigemptyset(&action.sa_mask);
	action.sa_handler = on_child;
	action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &action, NULL);
}

void dispatch_close_in_children(struct dispatcher *pool, int fd)
{
	if (fd >= 0 && pool->close_count < DISPATCH_MAX_CLOSE)
		pool->close_fds[pool->close_count++] = fd;
}

bool dispatch_busy(const struct dispatcher *pool, const char *id)
{
	size_t i;

	for (i = 0; i < pool->slot_count; i++) {
		if (pool->slots[i].pid != 0
		    && strcmp(pool->slots[i].id, id) == 0)
			return true;
	}
	for (i = 0; i < pool->unmoved_count; i++)
		if (strcmp(pool->unmoved[i].id, id) == 0)
			return true;
	return false;
}

static void add_unmoved(struct dispatcher *pool,
			const struct dispatch_slot *slot)
{
	struct dispatch_unmoved *entry;

	pool->unmoved = xreallocarray(pool->unmoved, pool->unmoved_count + 1,
				      sizeof(*pool->unmoved));
	entry = &pool->unmoved[pool->unmoved_count++];
	entry->dir = slot->dir;
	snprintf(entry->id, sizeof(entry->id), "%s", slot->id);
	entry->tries = 0;
}

void dispatch_move_unmoved(struct dispatcher *pool)
{
	static struct msg_rate move_errors =
		MSG_RATE_INIT("sent report move", 1, 60);
	size_t kept = 0;
	size_t i;

	for (i = 0; i < pool->unmoved_count; i++) {
		struct dispatch_unmoved *entry = &pool->unmoved[i];

		entry->tries++;
		if (deliver_move_sent(entry->dir, entry->id) == 0) {
			msg_info("%s: moved the sent report from %s/ to %s/ "
				 "after %u tries", entry->id, entry->dir,
				 QUEUE_SENT, entry->tries);
			continue;
		}
		if (msg_rate_allow(&move_errors))
			msg_warn("%s: still cannot move the sent report from "
				 "%s/ to %s/: %s; trying again", entry->id,
				 entry->dir, QUEUE_SENT, strerror(errno));
		pool->unmoved[kept++] = *entry;
	}
	pool->unmoved_count = kept;
}

static size_t concurrency_limit(const struct dispatcher *pool)
{
	long long limit = config_int("delivery_concurrency");

	if (limit < 1)
		return 1;
	return (size_t)limit < pool->slot_count ? (size_t)limit
		: pool->slot_count;
}

static void note_due(struct dispatcher *pool, time_t when)
{
	if (when != 0 && (pool->next_due == 0 || when < pool->next_due))
		pool->next_due = when;
}

/* Remember when a delivery that has just been deferred is due again. */
static void note_retry(struct dispatcher *pool, const char *id)
{
	struct delivery delivery;
	enum deliver_result ignored;

	if (deliver_read(QUEUE_DEFERRED, id, &delivery, &ignored) != 0)
		return;
	note_due(pool, delivery.next_attempt);
	delivery_free(&delivery);
}

static void count_result(struct dispatcher *pool, struct dispatch_slot *slot,
			 int result)
{
	switch (result) {
	case DELIVER_SENT:
		pool->counts.sent++;
		break;
	case DELIVER_DEFERRED:
		pool->counts.deferred++;
		note_retry(pool, slot->id);
		break;
	case DELIVER_BOUNCED:
		pool->counts.bounced++;
		break;
	case DELIVER_CORRUPT:
		pool->counts.corrupt++;
		break;
	case DELIVER_SENT_UNMOVED:
		pool->counts.sent++;
		add_unmoved(pool, slot);
		break;
	case DELIVER_BUSY:
		/* tlsrpt-queue holds its lock only while it moves a file. */
		note_due(pool, utc_now() + DISPATCH_BUSY_RETRY);
		break;
	default:
		break;
	}
}

/* Account for the end of the child in slot. A child that ended without
 * a result has left its file in place, and gets a deferred attempt
 * unless the mailer is stopping. */
static void finish(struct dispatcher *pool, struct dispatch_slot *slot,
		   int status)
{
	int result = WIFEXITED(status) ? WEXITSTATUS(status)
		- DISPATCH_EXIT_BASE : -1;
	char reason[128];

	if (result >= DELIVER_SENT && result <= DELIVER_SENT_UNMOVED) {
		count_result(pool, slot, result);
	} else if (!worker_stop) {
		if (WIFSIGNALED(status))
			snprintf(reason, sizeof(reason), "the delivery process "
				 "was killed by signal %d", WTERMSIG(status));
		else
			snprintf(reason, sizeof(reason), "the delivery process "
				 "exited with status %d", WEXITSTATUS(status));
		msg_error("%s: %s; deferring the delivery", slot->id, reason);
		deliver_abandon(slot->dir, slot->id, reason);
		pool->counts.deferred++;
		note_retry(pool, slot->id);
	}
	slot->pid = 0;
	pool->running--;
}

/* Collect one ended child. With block, wait for one. Returns 1 when a
 * child was collected, 0 when none has ended, -1 when interrupted. */
static int reap_one(struct dispatcher *pool, bool block)
{
	int status;
	pid_t pid;
	size_t i;

	if (pool->running == 0)
		return 0;
	pid = waitpid(-1, &status, block ? 0 : WNOHANG);
	if (pid < 0)
		return errno == EINTR ? -1 : 0;
	if (pid == 0)
		return 0;
	for (i = 0; i < pool->slot_count; i++) {
		if (pool->slots[i].pid == pid) {
			finish(pool, &pool->slots[i], status);
			break;
		}
	}
	return 1;
}

void dispatch_reap(struct dispatcher *pool)
{
	while (reap_one(pool, false) > 0)
		continue;
}

static _Noreturn void run_child(struct dispatcher *pool, const char *dir,
				const char *id)
{
	enum deliver_result result;
	struct timespec now;
	size_t i;

	/* A stop request ends the child at once. Reloads concern only
	 * the parent. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	for (i = 0; i < pool->close_count; i++)
		close(pool->close_fds[i]);

	/* Each child needs its own retry jitter. */
	clock_gettime(CLOCK_REALTIME, &now);
	srandom((unsigned)now.tv_nsec ^ (unsigned)getpid());

	result = deliver_file(dir, id, pool->keys);
	exit(DISPATCH_EXIT_BASE + (int)result);
}

int dispatch_start(struct dispatcher *pool, const char *dir, const char *id)
{
	struct dispatch_slot *slot = NULL;
	size_t i;

	while (pool->running >= concurrency_limit(pool)) {
		if (worker_stop)
			return -1;
		reap_one(pool, true);
	}
	if (worker_stop)
		return -1;
	for (i = 0; i < pool->slot_count && slot == NULL; i++) {
		if (pool->slots[i].pid == 0)
			slot = &pool->slots[i];
	}

	slot->pid = fork();
	if (slot->pid < 0) {
		slot->pid = 0;
		if (msg_rate_allow(&fork_errors))
			msg_error("%s: cannot start a delivery process: %s; "
				  "the file stays in %s/", id, strerror(errno),
				  dir);
		return -1;
	}
	if (slot->pid == 0)
		run_child(pool, dir, id);
	slot->dir = dir;
	snprintf(slot->id, sizeof(slot->id), "%s", id);
	pool->running++;
	return 0;
}

void dispatch_stop(struct dispatcher *pool)
{
	time_t give_up = time(NULL) + DISPATCH_STOP_GRACE;
	size_t i;

	while (pool->running > 0 && time(NULL) < give_up) {
		dispatch_reap(pool);
		if (pool->running > 0)
			poll(NULL, 0, STOP_POLL_MS);
	}
	if (pool->running == 0)
		return;
	msg_warn("stopping with %zu deliveries in progress; they are cut "
		 "short, and their files stay queued for the next start",
		 pool->running);
	for (i = 0; i < pool->slot_count; i++) {
		if (pool->slots[i].pid != 0)
			kill(pool->slots[i].pid, SIGTERM);
	}
	while (pool->running > 0 && reap_one(pool, true) != 0)
		continue;
}

void dispatch_free(struct dispatcher *pool)
{
	size_t i;

	for (i = 0; i < pool->unmoved_count; i++)
		msg_warn("%s: stopping with the sent report still in %s/; it "
			 "will be delivered once more after the next start",
			 pool->unmoved[i].id, pool->unmoved[i].dir);
	free(pool->unmoved);
	pool->unmoved = NULL;
	pool->unmoved_count = 0;
	free(pool->slots);
	pool->slots = NULL;
}
