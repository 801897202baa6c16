/*
 * report_command: build the reports of one day now, from the counters
 * stored so far.
 *
 *	tlsrptd [-c DIR] report --day YYYY-MM-DD|today|yesterday
 *		[--dry-run DIR]
 *
 * Only the aggregator opens the counter database, so the command asks it
 * for the day's counters with a request file (request_file.h) and waits
 * for the answer. Without --dry-run the summary goes to days/ and the
 * running reporter queues one delivery per destination, exactly as for a
 * closed day: this resends or backfills a past day, or previews the
 * running one, which stays open. With --dry-run the summary comes back to
 * this command, which writes each report (the .json.gz as it would be
 * delivered) and, for every mailto: destination, the message, into DIR.
 *
 * The suite must be running. The command runs as root or as the suite's
 * own user; the files it leaves in the queue are readable by the
 * aggregator.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "delivery_file.h"
#include "master_pid.h"
#include "msg.h"
#include "queue_file.h"
#include "report.h"
#include "report_command.h"
#include "report_mail.h"
#include "request_file.h"
#include "strbuf.h"
#include "summary_file.h"
#include "tlsrpt_record.h"
#include "trigger.h"
#include "utc_time.h"
#include "xalloc.h"

#define REPORT_WAIT_SECONDS	60	/* for each step of the answer */
#define REPORT_POLL_MS		100

struct report_options {
	char day[UTC_DAY_LEN + 1];
	const char *dry_run_dir;	/* NULL: queue for delivery */
};

static void usage(void)
{
	fprintf(stderr, "usage: tlsrptd [-c config_dir] report --day "
		"YYYY-MM-DD|today|yesterday [--dry-run DIR]\n");
}

static int parse_day(const char *text, char day[UTC_DAY_LEN + 1])
{
	time_t start;

	if (strcmp(text, "today") == 0) {
		utc_day_format(utc_now(), day);
		return 0;
	}
	if (strcmp(text, "yesterday") == 0) {
		utc_day_format(utc_now() - UTC_DAY_SECONDS, day);
		return 0;
	}
	if (utc_day_parse(text, &start) != 0)
		return -1;
	utc_day_format(start, day);
	return 0;
}

static int parse_options(int argc, char **argv, struct report_options *opts)
{
	static const struct option long_options[] = {
		{"day", required_argument, NULL, 'd'},
		{"dry-run", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int option;

	memset(opts, 0, sizeof(*opts));
	optind = 1;
	while ((option = getopt_long(argc, argv, "", long_options, NULL))
	       != -1) {
		switch (option) {
		case 'd':
			if (parse_day(optarg, opts->day) != 0) {
				fprintf(stderr, "tlsrptd: invalid day \"%s\": "
					"expected YYYY-MM-DD, today or "
					"yesterday\n", optarg);
				return -1;
			}
			break;
		case 'n':
			opts->dry_run_dir = optarg;
			break;
		default:
			usage();
			return -1;
		}
	}
	if (optind < argc || opts->day[0] == '\0') {
		usage();
		return -1;
	}
	return 0;
}

static int wait_for(const char *path, int should_exist, int seconds)
{
	int rounds = seconds * 1000 / REPORT_POLL_MS;

	while (rounds-- > 0) {
		if ((access(path, F_OK) == 0) == should_exist)
			return 0;
		usleep(REPORT_POLL_MS * 1000);
	}
	return -1;
}

static int send_request(const struct report_options *opts,
			char id[QUEUE_ID_LEN + 1])
{
	struct request request;

	memset(&request, 0, sizeof(request));
	snprintf(request.day, sizeof(request.day), "%s", opts->day);
	snprintf(request.target, sizeof(request.target), "%s",
		 opts->dry_run_dir ? REQUEST_TARGET_EXPORT
		 : REQUEST_TARGET_DAYS);
	if (request_write(&request, "admin", id) != 0) {
		fprintf(stderr, "tlsrptd: cannot write a request into %s/%s: "
			"%s\n", config_str("queue_directory"), QUEUE_REQUESTS,
			strerror(errno));
		return -1;
	}
	if (trigger_send("aggregator", TRIGGER_REQUEST) != 0)
		fprintf(stderr, "tlsrptd: warning: cannot wake the aggregator "
			"(%s); it will see the request at its next periodic "
			"scan\n", strerror(errno));
	return 0;
}

/* Count the deliveries of a day in one queue directory made since a
 * moment. */
static size_t count_made_since(const char *dir, const char *day,
			       const char *since)
{
	struct strbuf error;
	char **names;
	size_t count;
	size_t made = 0;
	size_t i;

	if (queue_list(dir, &names, &count) != 0)
		return 0;
	strbuf_init(&error);
	for (i = 0; i < count; i++) {
		struct delivery delivery;
		char *path = xasprintf("%s/%s", dir, names[i]);

		strbuf_reset(&error);
		if (delivery_read(path, &delivery, &error) == 0) {
			if (strcmp(delivery.day, day) == 0
			    && strcmp(delivery.created, since) >= 0)
				made++;
			delivery_free(&delivery);
		}
		free(path);
	}
	strbuf_free(&error);
	queue_list_free(names, count);
	return made;
}

/* Count the deliveries of a day queued since a moment, wherever the
 * mailer has moved them by now. */
static size_t count_queued(const char *day, const char *since)
{
	static const char *const dirs[] = {
		QUEUE_OUTGOING, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_SENT,
		QUEUE_FAILED,
	};
	size_t total = 0;
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		total += count_made_since(dirs[i], day, since);
	return total;
}

static int queue_reports(const struct report_options *opts, const char *id,
			 const char *started)
{
	char *summary_path = xasprintf("%s/%s", QUEUE_DAYS, id);
	char *request_path = xasprintf("%s/%s", QUEUE_REQUESTS, id);
	int status = -1;

	if (wait_for(request_path, 0, REPORT_WAIT_SECONDS) != 0) {
		fprintf(stderr, "tlsrptd: the aggregator did not answer "
			"request %s within %d seconds; check the log and "
			"\"tlsrptd status\"\n", id, REPORT_WAIT_SECONDS);
		goto done;
	}
	if (wait_for(summary_path, 0, REPORT_WAIT_SECONDS) != 0) {
		fprintf(stderr, "tlsrptd: the reporter did not take summary "
			"%s/%s within %d seconds; check the log and "
			"\"tlsrptd status\"\n", QUEUE_DAYS, id,
			REPORT_WAIT_SECONDS);
		goto done;
	}
	printf("tlsrptd: reports of %s queued: %zu deliveries (see "
	       "\"tlsrpt-queue list\")\n", opts->day,
	       count_queued(opts->day, started));
	status = 0;

done:
	free(summary_path);
	free(request_path);
	return status;
}

static int write_file(const char *dir, const char *name, const void *data,
		      size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	int status = 0;

	if (fp == NULL || fwrite(data, 1, len, fp) != len) {
		fprintf(stderr, "tlsrptd: cannot write %s: %s\n", path,
			strerror(errno));
		status = -1;
	}
	if (fp != NULL && fclose(fp) != 0 && status == 0) {
		fprintf(stderr, "tlsrptd: cannot write %s: %s\n", path,
			strerror(errno));
		status = -1;
	}
	free(path);
	return status;
}

/* Fill a delivery as the reporter would queue it for one destination. */
static void delivery_from_report(const struct report *report,
				 const struct report_identity *identity,
				 const char *destination, const char *rua,
				 struct delivery *delivery)
{
	memset(delivery, 0, sizeof(*delivery));
	delivery->report_id = report->report_id;
	delivery->report_domain = report->report_domain;
	delivery->day = report->day;
	delivery->destination = (char *)destination;
	delivery->rua = (char *)rua;
	delivery->submitter = (char *)identity->submitter;
	delivery->filename = report->filename;
	delivery->payload = report->gzip;
	delivery->payload_len = report->gzip_len;
}

static int write_message(const char *dir, const struct report *report,
			 const struct report_identity *identity,
			 const char *destination, const char *rua,
			 size_t index)
{
	struct delivery delivery;
	struct strbuf message;
	struct strbuf error;
	char *name;
	char *id_left;
	size_t stem_len = strlen(report->filename);
	int status;

	if (stem_len > 8 && strcmp(report->filename + stem_len - 8,
				   ".json.gz") == 0)
		stem_len -= 8;
	delivery_from_report(report, identity, destination, rua, &delivery);
	strbuf_init(&message);
	strbuf_init(&error);
	id_left = xasprintf("dry-run.%zu.%lld", index, (long long)utc_now());
	status = report_mail_build(&delivery, destination + strlen("mailto:"),
				   id_left, utc_now(), &message, &error);
	if (status != 0) {
		fprintf(stderr, "tlsrptd: cannot build the message of report "
			"%s for %s: %s\n", report->report_id, destination,
			error.data);
	} else {
		name = xasprintf("%.*s.%zu.eml", (int)stem_len,
				 report->filename, index);
		status = write_file(dir, name, message.data, message.len);
		if (status == 0)
			printf("  message:     %s/%s (to %s)\n", dir, name,
			       destination + strlen("mailto:"));
		free(name);
	}
	free(id_left);
	strbuf_free(&message);
	strbuf_free(&error);
	return status;
}

static int write_report(const char *dir, const struct report *report,
			const struct report_identity *identity)
{
	struct tlsrpt_record record;
	struct strbuf warnings;
	struct strbuf rua;
	size_t i;
	int status;

	printf("%s: %llu successful, %llu failed sessions\n",
	       report->report_domain, report->successes, report->failures);
	status = write_file(dir, report->filename, report->gzip,
			    report->gzip_len);
	if (status == 0)
		printf("  report:      %s/%s\n", dir, report->filename);

	strbuf_init(&warnings);
	strbuf_init(&rua);
	memset(&record, 0, sizeof(record));
	if (tlsrpt_record_parse(report->record, &record, &warnings) != 0
	    || record.destination_count == 0)
		printf("  no usable destination in \"%s\"%s%s\n",
		       report->record, warnings.len ? ": " : "",
		       warnings.data);
	for (i = 0; i < record.destination_count; i++)
		strbuf_printf(&rua, "%s%s", i ? " " : "",
			      record.destinations[i]);
	for (i = 0; i < record.destination_count; i++) {
		const char *destination = record.destinations[i];

		if (strncmp(destination, "mailto:", 7) != 0) {
			printf("  destination: %s (HTTPS POST of the "
			       "report)\n", destination);
			continue;
		}
		if (write_message(dir, report, identity, destination, rua.data,
				  i) != 0)
			status = -1;
	}
	tlsrpt_record_free(&record);
	strbuf_free(&warnings);
	strbuf_free(&rua);
	return status;
}

static int dry_run(const struct report_options *opts, const char *id,
		   const struct report_identity *identity)
{
	char *summary_path = xasprintf("%s/%s", QUEUE_EXPORT, id);
	struct summary summary;
	struct report *reports = NULL;
	struct strbuf error;
	size_t count = 0;
	size_t i;
	int status = -1;

	strbuf_init(&error);
	if (wait_for(summary_path, 1, REPORT_WAIT_SECONDS) != 0) {
		fprintf(stderr, "tlsrptd: the aggregator did not answer "
			"request %s within %d seconds; check the log and "
			"\"tlsrptd status\"\n", id, REPORT_WAIT_SECONDS);
		goto done;
	}
	if (summary_read(summary_path, &summary, &error) != 0) {
		fprintf(stderr, "tlsrptd: invalid summary %s: %s\n",
			summary_path, error.data);
		goto done;
	}
	unlink(summary_path);
	if (report_build_all(&summary, identity, &reports, &count, &error)
	    != 0) {
		fprintf(stderr, "tlsrptd: cannot build the reports of %s: "
			"%s\n", opts->day, error.data);
		summary_free(&summary);
		goto done;
	}
	printf("tlsrptd: %zu reports for %s (%s summary, %zu counters)\n",
	       count, opts->day, summary.kind, summary.counter_count);
	status = 0;
	for (i = 0; i < count; i++)
		if (write_report(opts->dry_run_dir, &reports[i], identity)
		    != 0)
			status = -1;
	report_free_all(reports, count);
	summary_free(&summary);

done:
	free(summary_path);
	strbuf_free(&error);
	return status;
}

static int check_dry_run_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "tlsrptd: --dry-run directory %s does not "
			"exist; create it first\n", dir);
		return -1;
	}
	return 0;
}

int report_command(int argc, char **argv)
{
	struct report_options opts;
	struct report_identity identity = {0};
	struct strbuf error;
	char started[UTC_TIME_LEN + 1];
	char id[QUEUE_ID_LEN + 1];
	char *dry_run_dir = NULL;
	int status = 1;

	if (parse_options(argc, argv, &opts) != 0)
		return 2;
	strbuf_init(&error);
	if (report_identity_from_config(&identity, &error) != 0) {
		fprintf(stderr, "tlsrptd: %s\n", error.data);
		goto done;
	}

	/* The dry-run directory is relative to where the command started. */
	if (opts.dry_run_dir != NULL) {
		if (check_dry_run_dir(opts.dry_run_dir) != 0)
			goto done;
		dry_run_dir = realpath(opts.dry_run_dir, NULL);
		opts.dry_run_dir = dry_run_dir;
	}
	if (chdir(config_str("queue_directory")) != 0) {
		fprintf(stderr, "tlsrptd: cannot change to queue_directory "
			"%s: %s\n", config_str("queue_directory"),
			strerror(errno));
		goto done;
	}
	if (master_pid_holder(MASTER_PID_FILE) <= 0) {
		fprintf(stderr, "tlsrptd: the suite is not running; start it "
			"with \"tlsrptd start\" (only the aggregator can read "
			"the counters)\n");
		goto done;
	}
	utc_time_format(utc_now(), started);
	if (send_request(&opts, id) != 0)
		goto done;
	if (opts.dry_run_dir != NULL)
		status = dry_run(&opts, id, &identity) == 0 ? 0 : 1;
	else
		status = queue_reports(&opts, id, started) == 0 ? 0 : 1;

done:
	report_identity_free(&identity);
	free(dry_run_dir);
	strbuf_free(&error);
	return status;
}
