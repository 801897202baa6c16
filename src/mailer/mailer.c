/*
 * mailer: deliver the queued reports of outgoing/ and deferred/, keep
 * their retry schedule, and expire old files from sent/.
 *
 * Wakeups: TRIGGER_WAKEUP (new work) scans outgoing/ and the deferred
 * deliveries that are due; TRIGGER_FLUSH retries every deferred delivery
 * now. Without a trigger the mailer scans every 60 seconds, or sooner
 * when a deferred delivery falls due. Deliveries run one at a time. A
 * stop request is honoured between two deliveries, so a stop can wait
 * for the timeouts of the session in progress.
 *
 * Security: the mailer runs as mail_owner once worker_jail() returns.
 * Delivery files are parsed by delivery_read(), and a file that fails
 * goes to corrupt/ with a warning. Values from a file reach a mail header or
 * an SMTP command only through the checks in report_mail.c and smtp.c.
 * The log never shows file contents, only IDs, destinations, replies and
 * errors.
 *
 * Parameters: relayhost, smtp_helo_name, smtp_connect_timeout,
 * smtp_timeout, smtp_tls_security_level, smtp_sasl_username,
 * report_sender, report_envelope_sender, delivery_redirect,
 * minimal_backoff_time, maximal_backoff_time, maximal_queue_lifetime,
 * sent_retention.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "delivery_file.h"
#include "msg.h"
#include "queue_file.h"
#include "smtp.h"
#include "trigger.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

#define SCAN_INTERVAL		60	/* seconds between scans */
#define EXPIRE_INTERVAL		3600	/* seconds between sent/ expiry runs */

static struct msg_rate scan_warnings = MSG_RATE_INIT("queue scan", 10, 3600);

/* Check the settings a delivery needs. At start an invalid relayhost
 * is fatal. After a reload it is a warning, and mail deliveries defer. */
static void check_settings(bool starting)
{
	struct smtp_relay relay;
	struct strbuf error;

	strbuf_init(&error);
	if (config_check_required(&error) != 0)
		msg_fatal("%s", error.data);
	if (smtp_relay_parse(config_str("relayhost"), &relay, &error) == 0)
		smtp_relay_free(&relay);
	else if (starting)
		msg_fatal("%s; fix relayhost in %s/main.cf", error.data,
			  config_directory());
	else
		msg_warn("%s; mail deliveries are deferred until relayhost "
			 "is fixed", error.data);
	strbuf_free(&error);

	/* TODO: the sendmail program and report_bcc copies are not
	 * implemented yet, so a warning replaces silently ignoring them. */
	if (config_str("sendmail_path")[0] != '\0')
		msg_warn("sendmail_path is not implemented in this version "
			 "and is ignored; reports go by SMTP to relayhost");
	if (config_str("report_bcc")[0] != '\0')
		msg_warn("report_bcc is not implemented in this version and "
			 "is ignored; no copies are sent");
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

/* Read dir/id. A file that is not a valid delivery goes to corrupt/.
 * One that has disappeared (deleted by the admin) is skipped. */
static int read_delivery(const char *dir, const char *id,
			 struct delivery *delivery,
			 struct mailer_counts *counts)
{
	char *path = xasprintf("%s/%s", dir, id);
	struct strbuf error;
	int status;

	strbuf_init(&error);
	status = delivery_read(path, delivery, &error);
	if (status != 0 && access(path, F_OK) == 0) {
		msg_warn("%s: invalid delivery file %s: %s; moving it to %s/",
			 id, path, error.data, QUEUE_CORRUPT);
		if (queue_move(dir, id, QUEUE_CORRUPT) == 0)
			counts->corrupt++;
		else if (msg_rate_allow(&scan_warnings))
			msg_error("%s: cannot move %s to %s/: %s", id, path,
				  QUEUE_CORRUPT, strerror(errno));
	}
	strbuf_free(&error);
	free(path);
	return status;
}

/*
 * Deliver the files of dir: all of them, or with only_due those whose
 * next attempt has come. The earliest next attempt still to come is
 * kept in next_due (0 when there is none).
 */
static void scan_directory(const char *dir, bool only_due, time_t *next_due,
			   struct mailer_counts *counts)
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

		if (!queue_id_valid(names[i])) {
			if (msg_rate_allow(&scan_warnings))
				msg_warn("ignoring %s/%s: the name is not a "
					 "queue ID", dir, names[i]);
			continue;
		}
		if (read_delivery(dir, names[i], &delivery, counts) != 0)
			continue;
		if (only_due && delivery.next_attempt > utc_now()) {
			if (*next_due == 0 || delivery.next_attempt < *next_due)
				*next_due = delivery.next_attempt;
			delivery_free(&delivery);
			continue;
		}
		deliver_once(&delivery, dir, names[i], counts);
		if (delivery.next_attempt != 0
		    && (*next_due == 0 || delivery.next_attempt < *next_due))
			*next_due = delivery.next_attempt;
		delivery_free(&delivery);
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

/* Milliseconds to wait before the next scan. */
static int scan_wait(time_t next_due)
{
	time_t now = utc_now();

	if (next_due == 0 || next_due - now >= SCAN_INTERVAL)
		return SCAN_INTERVAL * 1000;
	if (next_due <= now)
		return 0;
	return (int)(next_due - now) * 1000;
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

static void run(struct worker *worker)
{
	struct mailer_counts counts;
	bool flush = false;
	char codes[8];

	memset(&counts, 0, sizeof(counts));
	while (!worker_stop) {
		time_t next_due = 0;

		if (worker_reload) {
			worker_reload_config(worker);
			check_settings(false);
		}

		/* deferred/ first, so that a flush does not retry at once
		 * what this pass has just deferred from outgoing/. */
		if (flush)
			msg_info("flush: retrying every deferred delivery now");
		scan_directory(QUEUE_DEFERRED, !flush, &next_due, &counts);

		/* TODO: honour next-attempt in outgoing/ too once the
		 * reporter spreads first deliveries over delivery_spread. */
		scan_directory(QUEUE_OUTGOING, false, &next_due, &counts);
		expire_sent();
		report_status(worker, &counts);

		flush = false;
		if (worker_wait(worker, scan_wait(next_due), codes,
				sizeof(codes)) > 0)
			flush = strchr(codes, TRIGGER_FLUSH) != NULL;
	}
}

int main(int argc, char **argv)
{
	struct worker worker;

	worker_setup(&worker, argc, argv, "mailer");
	check_settings(true);
	worker_jail(&worker);
	remove_stale_temp_files();
	worker_listen(&worker);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	msg_info("starting: relayhost %s%s%s", config_str("relayhost"),
		 config_str("delivery_redirect")[0] != '\0'
		 ? ", delivery_redirect " : "",
		 config_str("delivery_redirect"));
	worker_ready(&worker);
	run(&worker);
	msg_info("stopping");
	return 0;
}
