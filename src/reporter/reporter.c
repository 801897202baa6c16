/*
 * reporter: turn closed day summaries into queued report deliveries.
 *
 * Usage (normally started by the master from master.cf):
 *
 *	reporter [-c config_dir] [-n service] [-s status_fd] [-o name=value]
 *		 [-C] [-S] [-v]
 *
 * The reporter scans days/ at start, on every wakeup trigger on
 * private/<service> and at least once a minute, or after
 * RETRY_INTERVAL_MS when a summary failed (a full or failing disk). Each final or preview
 * summary file becomes one RFC 8460 report per (domain, TLSRPT record)
 * and one delivery file in outgoing/ per rua destination. Then the
 * summary file is removed and the mailer is woken. Files are handled in
 * name order, which for queue IDs is creation order.
 *
 * Security: the reporter reads only days/ and writes only outgoing/,
 * corrupt/ and its own tmp/ files. It runs as mail_owner after
 * worker_jail() and treats summary files as untrusted input: a bad line,
 * domain or record costs only its own report, and a file that cannot be
 * read is moved to corrupt/.
 *
 * Parameters: organization_name and contact_info (required; the reporter
 * does not start without them), report_max_failure_details,
 * report_max_size, report_success_only_days, delivery_spread,
 * delivery_redirect.
 *
 * NOTE: summaries of the same day from several hosts are reported one
 * file at a time, each as its own report; merging them needs the
 * per-host deadline logic that the many-hosts setup will bring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "config.h"
#include "delivery_queue.h"
#include "msg.h"
#include "queue_file.h"
#include "report.h"
#include "strbuf.h"
#include "summary_job.h"
#include "trigger.h"
#include "worker.h"
#include "xalloc.h"

#define PROGRAM_NAME		"reporter"
#define SCAN_INTERVAL_MS	(60 * 1000)
#define RETRY_INTERVAL_MS	(5 * 1000)	/* after a failed summary */
#define HEAP_KEEP		(8 * 1024 * 1024)	/* see keep_heap() */

/* Files in days/ that the reporter leaves alone, each logged once. */
struct left_files {
	char **names;
	size_t count;
};

/*
 * Keep freed heap memory for the next report. Each report allocates and
 * frees about 300 KiB, most of it zlib's deflate state. With glibc's
 * default trim threshold that memory goes back to the kernel after every
 * report and is faulted in again for the next, which took about half the
 * build time of a large day (bench/report_bench.py).
 */
static void keep_heap(void)
{
#ifdef M_TRIM_THRESHOLD
	mallopt(M_TRIM_THRESHOLD, HEAP_KEEP);
#endif
}

static void load_identity(struct report_identity *identity)
{
	struct strbuf error;

	strbuf_init(&error);
	if (report_identity_from_config(identity, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

static void check_redirect(void)
{
	const char *redirect = config_str("delivery_redirect");

	if (!delivery_redirect_valid(redirect))
		msg_fatal("invalid delivery_redirect \"%s\" in %s/main.cf; use "
			  "file:DIRECTORY or mailto:ADDRESS, or leave it empty",
			  redirect, config_directory());
}

/* After SIGHUP keep the old identity when the new one is incomplete. */
static void reload(struct worker *worker, struct report_identity *identity)
{
	struct report_identity fresh;
	struct strbuf error;

	worker_reload_config(worker);
	strbuf_init(&error);
	if (report_identity_from_config(&fresh, &error) != 0) {
		msg_warn("keeping the previous report identity: %s",
			 error.data);
	} else {
		report_identity_free(identity);
		*identity = fresh;
	}
	strbuf_free(&error);
}

/* Files left in tmp/ by an earlier reporter were never committed. */
static void remove_stale_files(void)
{
	const char *prefix = PROGRAM_NAME ".";
	char **names;
	size_t count;
	size_t removed = 0;
	size_t i;

	if (queue_list(QUEUE_TMP, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_TMP, strerror(errno));
		return;
	}
	for (i = 0; i < count; i++) {
		char *path;

		if (strncmp(names[i], prefix, strlen(prefix)) != 0)
			continue;
		path = xasprintf("%s/%s", QUEUE_TMP, names[i]);
		if (unlink(path) == 0)
			removed++;
		else
			msg_warn("cannot remove stale file %s: %s", path,
				 strerror(errno));
		free(path);
	}
	if (removed > 0)
		msg_info("removed %zu unfinished files from %s/", removed,
			 QUEUE_TMP);
	queue_list_free(names, count);
}

static bool is_left(const struct left_files *left, const char *name)
{
	size_t i;

	for (i = 0; i < left->count; i++)
		if (strcmp(left->names[i], name) == 0)
			return true;
	return false;
}

static int compare_names(const void *left, const void *right)
{
	return strcmp(*(char *const *)left, *(char *const *)right);
}

/* Forget left files that are gone from days/, so the list stays as
 * small as the directory. names is sorted, as queue_list() returns it. */
static void prune_left(struct left_files *left, char **names, size_t count)
{
	size_t kept = 0;
	size_t i;

	for (i = 0; i < left->count; i++) {
		if (count > 0 && bsearch(&left->names[i], names, count,
					 sizeof(*names), compare_names) != NULL)
			left->names[kept++] = left->names[i];
		else
			free(left->names[i]);
	}
	left->count = kept;
}

static void add_left(struct left_files *left, const char *name)
{
	left->names = xreallocarray(left->names, left->count + 1,
				    sizeof(*left->names));
	left->names[left->count++] = xstrdup(name);
}

static void free_left(struct left_files *left)
{
	size_t i;

	for (i = 0; i < left->count; i++)
		free(left->names[i]);
	free(left->names);
	memset(left, 0, sizeof(*left));
}

/* A missing FIFO (a reporter started without the master) is reported
 * once, because the mailer's periodic scan finds the deliveries anyway. */
static void wake_mailer(void)
{
	static bool missing_reported;

	if (trigger_send("mailer", TRIGGER_WAKEUP) == 0)
		return;
	if (errno != ENOENT)
		msg_warn("cannot wake the mailer through %s/mailer: %s",
			 QUEUE_PRIVATE, strerror(errno));
	else if (!missing_reported)
		msg_info("no wakeup FIFO %s/mailer; the mailer finds new "
			 "deliveries on its next periodic scan", QUEUE_PRIVATE);
	missing_reported = missing_reported || errno == ENOENT;
}

/* Handle every summary file in days/, in name order. Returns true when
 * a summary must be tried again. */
static bool scan_days(struct worker *worker,
		      const struct report_identity *identity,
		      struct left_files *left)
{
	bool retry = false;
	struct summary_job job;
	char **names;
	size_t count;
	size_t queued_files = 0;
	size_t reports = 0;
	size_t deliveries = 0;
	size_t i;

	memset(&job, 0, sizeof(job));
	job.identity = identity;
	job.redirect = config_str("delivery_redirect");
	job.spread = (time_t)config_time("delivery_spread");
	if (!delivery_redirect_valid(job.redirect)) {
		msg_error("invalid delivery_redirect \"%s\" in %s/main.cf; "
			  "no report is queued until it is fixed", job.redirect,
			  config_directory());
		return false;
	}
	if (queue_list(QUEUE_DAYS, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_DAYS, strerror(errno));
		return true;
	}
	prune_left(left, names, count);
	for (i = 0; i < count && !worker_stop; i++) {
		if (is_left(left, names[i]))
			continue;
		switch (summary_job_run(&job, names[i])) {
		case SUMMARY_QUEUED:
			queued_files++;
			reports += job.reports;
			deliveries += job.deliveries;
			if (job.deliveries > 0)
				wake_mailer();
			break;
		case SUMMARY_LEFT:
			add_left(left, names[i]);
			break;
		case SUMMARY_RETRY:
			retry = true;
			break;
		case SUMMARY_GONE:
		case SUMMARY_CORRUPT:
			break;
		}
	}
	if (queued_files > 0)
		worker_status(worker, "summaries=%zu reports=%zu "
			      "deliveries=%zu", queued_files, reports,
			      deliveries);
	queue_list_free(names, count);
	return retry;
}

int main(int argc, char **argv)
{
	struct report_identity identity;
	struct left_files left = { NULL, 0 };
	struct worker worker;
	char codes[8];

	worker_setup(&worker, argc, argv, PROGRAM_NAME);
	keep_heap();
	load_identity(&identity);
	check_redirect();
	worker_jail(&worker);
	remove_stale_files();
	worker_listen(&worker);
	worker_ready(&worker);
	msg_info("started; submitter %s, reports from %s/ to %s/",
		 identity.submitter, QUEUE_DAYS, QUEUE_OUTGOING);

	while (!worker_stop) {
		bool retry;

		if (worker_reload)
			reload(&worker, &identity);
		retry = scan_days(&worker, &identity, &left);
		worker_wait(&worker, retry ? RETRY_INTERVAL_MS
				      : SCAN_INTERVAL_MS, codes, sizeof(codes));
	}

	msg_info("stopping");
	free_left(&left);
	report_identity_free(&identity);
	return 0;
}
