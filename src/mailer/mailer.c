/*
 * mailer: deliver the queued reports of outgoing/ and deferred/, keep
 * their retry schedule, and expire old files from sent/.
 *
 * Wakeups: TRIGGER_WAKEUP (new work) scans outgoing/ and deferred/ for
 * the deliveries that are due: next-attempt has come (the reporter
 * spreads the first attempts of a day over delivery_spread this way).
 * TRIGGER_FLUSH delivers every file of both directories now. Without a
 * trigger the mailer scans every 60 seconds, or sooner when a delivery
 * falls due. Up to delivery_concurrency deliveries run at a time, each
 * in a child process (dispatch.h). A stop request waits a few seconds
 * for them and then cuts them short.
 *
 * Security: before it drops privileges, the mailer reads the DKIM key,
 * the SMTP AUTH password and the HTTPS CA certificates (keys.h). It runs
 * as mail_owner once worker_jail() returns. Delivery files are parsed
 * by delivery_read(), and a file that fails goes to corrupt/ with a
 * warning. Values from a file reach a mail header, an SMTP command or
 * an HTTP request only through the checks in report_mail.c, smtp.c and
 * http_url.c. The log never shows file contents or passwords, only IDs,
 * destinations, replies and errors.
 *
 * Parameters: relayhost, sendmail_path, smtp_helo_name,
 * smtp_connect_timeout, smtp_timeout, smtp_tls_security_level,
 * smtp_sasl_username, smtp_sasl_password_file, report_sender,
 * report_envelope_sender, report_bcc, delivery_redirect,
 * delivery_concurrency, minimal_backoff_time, maximal_backoff_time,
 * maximal_queue_lifetime, sent_retention, dkim_domain, dkim_selector,
 * dkim_private_key, https_ca_file, https_verify, https_connect_timeout,
 * https_timeout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "dispatch.h"
#include "keys.h"
#include "msg.h"
#include "queue_file.h"
#include "report_mail.h"
#include "smtp.h"
#include "trigger.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

#define SCAN_INTERVAL		60	/* seconds between scans */
#define EXPIRE_INTERVAL		3600	/* seconds between sent/ expiry runs */
#define RUNNING_WAIT_MS		1000	/* longest wait while delivering */
#define UNMOVED_WAIT_MS		2000	/* between retries of sent/ moves */

static struct msg_rate scan_warnings = MSG_RATE_INIT("queue scan", 10, 3600);

/* Report a setting that cannot work: fatal at start, a warning after a
 * reload, when the deliveries that need it defer. */
static void setting_problem(bool starting, const char *problem,
			    const char *consequence)
{
	if (starting)
		msg_fatal("%s in %s/main.cf", problem, config_directory());
	msg_warn("%s in %s/main.cf; %s", problem, config_directory(),
		 consequence);
}

static void check_relay(bool starting)
{
	struct relayhost relay;
	struct strbuf error;

	strbuf_init(&error);
	if (relayhost_parse(config_str("relayhost"), &relay, &error) == 0) {
		relayhost_free(&relay);
	} else {
		strbuf_puts(&error, "; fix relayhost");
		setting_problem(starting, error.data, "mail deliveries are "
				"deferred until it is fixed");
	}
	strbuf_free(&error);
}

static void check_mail_settings(bool starting)
{
	const char *sendmail = config_str("sendmail_path");
	const char *bcc = config_str("report_bcc");
	enum smtp_tls_level level;
	struct strbuf problem, uri, address;

	strbuf_init(&problem);
	if (smtp_tls_level_parse(config_str("smtp_tls_security_level"),
				 &level) != 0) {
		strbuf_printf(&problem, "invalid smtp_tls_security_level "
			      "\"%s\"; use none, may or encrypt",
			      config_str("smtp_tls_security_level"));
		setting_problem(starting, problem.data, "mail deliveries are "
				"deferred until it is fixed");
	}
	if (sendmail[0] != '\0' && (sendmail[0] != '/'
				    || access(sendmail, X_OK) != 0)) {
		strbuf_reset(&problem);
		strbuf_printf(&problem, "sendmail_path \"%s\" is not an "
			      "absolute path of an executable program",
			      sendmail);
		setting_problem(starting, problem.data, "mail deliveries are "
				"deferred until it is fixed");
	}
	if (bcc[0] != '\0') {
		strbuf_init(&uri);
		strbuf_init(&address);
		strbuf_printf(&uri, "mailto:%s", bcc);
		strbuf_reset(&problem);
		strbuf_puts(&problem, "invalid report_bcc: ");
		if (report_mail_address(uri.data, &address, &problem) != 0)
			setting_problem(starting, problem.data,
					"no copies are sent");
		strbuf_free(&uri);
		strbuf_free(&address);
	}
	strbuf_free(&problem);
}

/* Check the settings a delivery needs. At start a problem is fatal.
 * After a reload it is a warning, and the deliveries concerned defer. */
static void check_settings(bool starting)
{
	struct strbuf error;

	strbuf_init(&error);
	if (config_check_required(&error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
	if (config_str("sendmail_path")[0] == '\0')
		check_relay(starting);
	check_mail_settings(starting);
}

/* Remove the temporary files that an earlier mailer left in tmp/. */
static void remove_stale_temp_files(void)
{
	size_t prefix_len = strlen(MAILER_OWNER ".");
	size_t count, i, removed = 0;
	char **names;

	if (queue_list(QUEUE_TMP, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_TMP, strerror(errno));
		return;
	}
	for (i = 0; i < count; i++) {
		char *path;

		if (strncmp(names[i], MAILER_OWNER ".", prefix_len) != 0)
			continue;
		path = xasprintf("%s/%s", QUEUE_TMP, names[i]);
		if (unlink(path) == 0)
			removed++;
		else
			msg_warn("cannot remove %s: %s", path, strerror(errno));
		free(path);
	}
	queue_list_free(names, count);
	if (removed > 0)
		msg_info("removed %zu temporary files of an earlier run from "
			 "%s/", removed, QUEUE_TMP);
}

static void note_due(time_t *next_due, time_t when)
{
	if (when != 0 && (*next_due == 0 || when < *next_due))
		*next_due = when;
}

/*
 * Start the deliveries of dir: all files, or without all only those
 * whose next attempt has come. The earliest next attempt still to come
 * is kept in next_due. Files already being delivered are skipped.
 */
static void scan_directory(struct dispatcher *pool, const char *dir, bool all,
			   time_t *next_due)
{
	char **names;
	size_t count, i;

	if (queue_list(dir, &names, &count) != 0) {
		if (msg_rate_allow(&scan_warnings))
			msg_warn("cannot list %s/: %s", dir, strerror(errno));
		return;
	}
	for (i = 0; i < count && !worker_stop; i++) {
		struct delivery delivery;
		enum deliver_result failure;
		time_t next_attempt;

		if (!queue_id_valid(names[i])) {
			if (msg_rate_allow(&scan_warnings))
				msg_warn("ignoring %s/%s: the name is not a "
					 "queue ID", dir, names[i]);
			continue;
		}
		if (dispatch_busy(pool, names[i]))
			continue;
		if (deliver_read(dir, names[i], &delivery, &failure) != 0) {
			if (failure == DELIVER_CORRUPT)
				pool->counts.corrupt++;
			continue;
		}
		next_attempt = delivery.next_attempt;
		delivery_free(&delivery);
		if (!all && next_attempt > utc_now()) {
			note_due(next_due, next_attempt);
			continue;
		}
		dispatch_start(pool, dir, names[i]);
	}
	queue_list_free(names, count);
}

/* Remove sent/ files older than sent_retention, at most once an hour.
 * Age is the file's modification time: when it moved to sent/. */
static void expire_sent(void)
{
	static time_t last_run;
	time_t now = time(NULL);
	long long retention = config_time("sent_retention");
	size_t count, i, removed = 0;
	char **names;

	if (last_run != 0 && now - last_run < EXPIRE_INTERVAL)
		return;
	last_run = now;
	if (queue_list(QUEUE_SENT, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_SENT, strerror(errno));
		return;
	}
	for (i = 0; i < count; i++) {
		char *path = xasprintf("%s/%s", QUEUE_SENT, names[i]);
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)
		    && now - st.st_mtime >= retention) {
			if (unlink(path) == 0)
				removed++;
			else
				msg_warn("cannot remove %s: %s", path,
					 strerror(errno));
		}
		free(path);
	}
	queue_list_free(names, count);
	if (removed > 0)
		msg_info("removed %zu delivered reports older than "
			 "sent_retention (%llds) from %s/", removed, retention,
			 QUEUE_SENT);
}

/* Milliseconds to wait before the next scan: until next_due, at most
 * until SCAN_INTERVAL after the last scan. */
static int scan_wait(time_t next_due, time_t last_scan)
{
	time_t now = utc_now();
	time_t next = last_scan + SCAN_INTERVAL;

	if (next_due != 0 && next_due < next)
		next = next_due;
	if (next <= now)
		return 0;
	return (int)(next - now) * 1000;
}

/* Milliseconds to wait for a trigger. SIGCHLD ends the wait when a
 * delivery ends, but one that ends just before the wait starts is only
 * seen at the next wakeup, so the wait is short while any is running. */
static int wait_time(const struct dispatcher *pool, time_t next_due,
		     time_t last_scan)
{
	int wait = scan_wait(next_due, last_scan);

	if (pool->running > 0 && wait > RUNNING_WAIT_MS)
		return RUNNING_WAIT_MS;
	if (pool->unmoved_count > 0 && wait > UNMOVED_WAIT_MS)
		return UNMOVED_WAIT_MS;
	return wait;
}

static void report_status(struct worker *worker,
			  const struct mailer_counts *counts)
{
	static struct mailer_counts last;

	if (memcmp(&last, counts, sizeof(last)) == 0)
		return;
	last = *counts;
	worker_status(worker, "sent=%lu deferred=%lu bounced=%lu corrupt=%lu",
		      counts->sent, counts->deferred, counts->bounced,
		      counts->corrupt);
}

static void run(struct worker *worker, struct dispatcher *pool,
		const struct mailer_keys *keys)
{
	bool scan = true, flush = false;
	time_t next_due = 0, last_scan = 0;
	char codes[8];

	while (!worker_stop) {
		if (worker_reload) {
			worker_reload_config(worker);
			check_settings(false);
			keys_check_reload(keys);
		}

		/* Deliveries deferred since the last scan may fall due
		 * before anything the scan saw. */
		dispatch_reap(pool);
		dispatch_move_unmoved(pool);
		note_due(&next_due, pool->next_due);
		pool->next_due = 0;

		if (scan || (next_due != 0 && next_due <= utc_now())
		    || utc_now() - last_scan >= SCAN_INTERVAL) {
			if (flush)
				msg_info("flush: delivering every queued "
					 "report now");
			next_due = 0;
			last_scan = utc_now();
			scan_directory(pool, QUEUE_DEFERRED, flush, &next_due);
			scan_directory(pool, QUEUE_OUTGOING, flush, &next_due);
			scan = flush = false;
		}
		expire_sent();
		report_status(worker, &pool->counts);

		if (worker_wait(worker, wait_time(pool, next_due, last_scan),
				codes, sizeof(codes)) > 0) {
			scan = true;
			flush = strchr(codes, TRIGGER_FLUSH) != NULL;
		}
	}
	dispatch_stop(pool);
	report_status(worker, &pool->counts);
}

static void load_keys(struct mailer_keys *keys)
{
	struct strbuf error;

	strbuf_init(&error);
	if (keys_load(keys, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

int main(int argc, char **argv)
{
	struct worker worker;
	struct mailer_keys keys;
	struct dispatcher pool;

	worker_setup(&worker, argc, argv, "mailer");
	check_settings(true);
	load_keys(&keys);
	worker_jail(&worker);
	remove_stale_temp_files();
	worker_listen(&worker);
	dispatch_init(&pool, &keys);
	dispatch_close_in_children(&pool, worker.trigger_fd);
	dispatch_close_in_children(&pool, worker.status_fd);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	msg_info("starting: %s %s%s%s, DKIM %s, delivery_concurrency %lld",
		 config_str("sendmail_path")[0] != '\0' ? "sendmail_path"
		 : "relayhost", config_str("sendmail_path")[0] != '\0'
		 ? config_str("sendmail_path") : config_str("relayhost"),
		 config_str("delivery_redirect")[0] != '\0'
		 ? ", delivery_redirect " : "",
		 config_str("delivery_redirect"),
		 keys.dkim != NULL ? "on" : "off",
		 config_int("delivery_concurrency"));
	worker_ready(&worker);
	run(&worker, &pool, &keys);
	dispatch_free(&pool);
	keys_free(&keys);
	msg_info("stopping");
	return 0;
}
