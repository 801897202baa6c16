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

#include "admin_request.h"
#include "config.h"
#include "delivery_file.h"
#include "dkim.h"
#include "msg.h"
#include "queue_file.h"
#include "report.h"
#include "report_command.h"
#include "report_mail.h"
#include "request_file.h"
#include "strbuf.h"
#include "summary_file.h"
#include "tlsrpt_record.h"
#include "utc_time.h"
#include "xalloc.h"

struct report_options {
	char day[UTC_DAY_LEN + 1];
	const char *dry_run_dir;	/* NULL: queue for delivery */
};

static void usage(void)
{
	fprintf(stderr, "usage: tlsrptd [-c config_dir] report --day "
		"YYYY-MM-DD|today|yesterday [--dry-run DIR]\n");
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
			if (admin_request_parse_day(optarg, opts->day) != 0) {
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

/* Add to ids the queue IDs of the deliveries of a day in one queue
 * directory made since a moment. */
static void list_made_since(const char *dir, const char *day,
			    const char *since, char ***ids, size_t *id_count)
{
	struct strbuf error;
	char **names;
	size_t count;
	size_t i;

	if (queue_list(dir, &names, &count) != 0)
		return;
	strbuf_init(&error);
	for (i = 0; i < count; i++) {
		struct delivery delivery;
		char *path = xasprintf("%s/%s", dir, names[i]);

		strbuf_reset(&error);
		if (delivery_read(path, &delivery, &error) == 0) {
			if (strcmp(delivery.day, day) == 0
			    && strcmp(delivery.created, since) >= 0) {
				*ids = xreallocarray(*ids, *id_count + 1,
						     sizeof(**ids));
				(*ids)[(*id_count)++] = xstrdup(names[i]);
			}
			delivery_free(&delivery);
		}
		free(path);
	}
	strbuf_free(&error);
	queue_list_free(names, count);
}

static int compare_ids(const void *left, const void *right)
{
	return strcmp(*(char *const *)left, *(char *const *)right);
}

/* Count the deliveries of a day queued since a moment, wherever the
 * mailer has moved them by now. A delivery that moves from one directory
 * to another between their scans is seen twice but counted once. */
static size_t count_queued(const char *day, const char *since)
{
	static const char *const dirs[] = {
		QUEUE_OUTGOING, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_SENT,
		QUEUE_FAILED,
	};
	char **ids = NULL;
	size_t id_count = 0;
	size_t unique = 0;
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		list_made_since(dirs[i], day, since, &ids, &id_count);
	if (id_count > 0)
		qsort(ids, id_count, sizeof(*ids), compare_ids);
	for (i = 0; i < id_count; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			unique++;
	for (i = 0; i < id_count; i++)
		free(ids[i]);
	free(ids);
	return unique;
}

static void print_nothing_counted(const char *day, const char *reason)
{
	printf("tlsrptd: nothing counted for %s (%s)\n", day, reason);
}

/* Say why a day gave no delivery: its age, no counters at all, or
 * counters that made no report with a destination. */
static void explain_no_deliveries(const char *day)
{
	struct summary summary;
	struct strbuf reason;

	strbuf_init(&reason);
	if (admin_request_empty_reason(day, &reason) == 1) {
		print_nothing_counted(day, reason.data);
	} else if (admin_request_fetch(day, &summary) == 0) {
		if (summary.counter_count == 0)
			print_nothing_counted(day, reason.data);
		else
			printf("tlsrptd: %s has %zu counters, but no delivery "
			       "was queued: see the mail log for TLSRPT "
			       "records without a usable rua, or days without "
			       "failures while report_success_only_days = no\n",
			       day, summary.counter_count);
		summary_free(&summary);
	}
	strbuf_free(&reason);
}

static int queue_reports(const struct report_options *opts, const char *id,
			 const char *started)
{
	size_t queued;

	char *summary_path = xasprintf("%s/%s", QUEUE_DAYS, id);
	char *request_path = xasprintf("%s/%s", QUEUE_REQUESTS, id);
	int status = -1;

	if (admin_request_wait(request_path, false,
			       ADMIN_REQUEST_WAIT_SECONDS) != 0) {
		fprintf(stderr, "tlsrptd: the aggregator did not answer "
			"request %s within %d seconds; check the log and "
			"\"tlsrptd status\"\n", id, ADMIN_REQUEST_WAIT_SECONDS);
		goto done;
	}
	if (admin_request_wait(summary_path, false,
			       ADMIN_REQUEST_WAIT_SECONDS) != 0) {
		fprintf(stderr, "tlsrptd: the reporter did not take summary "
			"%s/%s within %d seconds; check the log and "
			"\"tlsrptd status\"\n", QUEUE_DAYS, id,
			ADMIN_REQUEST_WAIT_SECONDS);
		goto done;
	}
	queued = count_queued(opts->day, started);
	printf("tlsrptd: reports of %s queued: %zu deliver%s (see "
	       "\"tlsrpt-queue list\")\n", opts->day, queued,
	       queued == 1 ? "y" : "ies");
	if (queued == 0)
		explain_no_deliveries(opts->day);
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

/* Write the message for one mailto: destination, with a DKIM-Signature
 * field first when signer is not NULL. */
static int write_message(const char *dir, const struct report *report,
			 const struct report_identity *identity,
			 const struct dkim_signer *signer,
			 const char *destination, const char *rua,
			 size_t index)
{
	struct delivery delivery;
	struct strbuf message;
	struct strbuf output;
	struct strbuf error;
	char *name;
	char *id_left;
	size_t stem_len = strlen(report->filename);
	time_t now = utc_now();
	int status;

	if (stem_len > 8 && strcmp(report->filename + stem_len - 8,
				   ".json.gz") == 0)
		stem_len -= 8;
	delivery_from_report(report, identity, destination, rua, &delivery);
	strbuf_init(&message);
	strbuf_init(&output);
	strbuf_init(&error);
	id_left = xasprintf("dry-run.%zu.%lld", index, (long long)now);
	status = report_mail_build(&delivery, destination + strlen("mailto:"),
				   id_left, now, &message, &error);
	if (status != 0)
		fprintf(stderr, "tlsrptd: cannot build the message of report "
			"%s for %s: %s\n", report->report_id, destination,
			error.data);
	if (status == 0 && signer != NULL) {
		status = dkim_sign(signer, message.data, message.len, now,
				   &output, &error);
		if (status != 0)
			fprintf(stderr, "tlsrptd: cannot DKIM-sign the message "
				"of report %s for %s: %s\n",
				report->report_id, destination, error.data);
	}
	if (status == 0) {
		strbuf_append(&output, message.data, message.len);
		name = xasprintf("%.*s.%zu.eml", (int)stem_len,
				 report->filename, index);
		status = write_file(dir, name, output.data, output.len);
		if (status == 0)
			printf("  message:     %s/%s (to %s%s)\n", dir, name,
			       destination + strlen("mailto:"),
			       signer != NULL ? ", DKIM-signed" : "");
		free(name);
	}
	free(id_left);
	strbuf_free(&message);
	strbuf_free(&output);
	strbuf_free(&error);
	return status;
}

static int write_report(const char *dir, const struct report *report,
			const struct report_identity *identity,
			const struct dkim_signer *signer)
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
		if (write_message(dir, report, identity, signer, destination,
				  rua.data, i) != 0)
			status = -1;
	}
	tlsrpt_record_free(&record);
	strbuf_free(&warnings);
	strbuf_free(&rua);
	return status;
}

static int dry_run(const struct report_options *opts,
		   const struct report_identity *identity,
		   const struct dkim_signer *signer)
{
	struct summary summary;
	struct report *reports = NULL;
	struct strbuf error;
	size_t count = 0;
	size_t i;
	int status;

	if (admin_request_fetch(opts->day, &summary) != 0)
		return -1;
	strbuf_init(&error);
	if (report_build_all(&summary, identity, &reports, &count, &error)
	    != 0) {
		fprintf(stderr, "tlsrptd: cannot build the reports of %s: "
			"%s\n", opts->day, error.data);
		summary_free(&summary);
		strbuf_free(&error);
		return -1;
	}
	printf("tlsrptd: %zu report%s for %s (%s summary, %zu counters)\n",
	       count, count == 1 ? "" : "s", opts->day, summary.kind,
	       summary.counter_count);
	if (summary.counter_count == 0) {
		struct strbuf reason;

		strbuf_init(&reason);
		admin_request_empty_reason(opts->day, &reason);
		print_nothing_counted(opts->day, reason.data);
		strbuf_free(&reason);
	}
	status = 0;
	for (i = 0; i < count; i++)
		if (write_report(opts->dry_run_dir, &reports[i], identity,
				 signer) != 0)
			status = -1;
	report_free_all(reports, count);
	summary_free(&summary);
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
	struct dkim_signer *signer = NULL;
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

	/* Messages are signed as the mailer signs them. The key is read
	 * once, before the request, so that a bad key fails at once. */
	if (opts.dry_run_dir != NULL
	    && dkim_signer_from_config(identity.submitter, &signer, &error)
	    < 0) {
		fprintf(stderr, "tlsrptd: %s\n", error.data);
		goto done;
	}
	if (admin_request_enter_queue() != 0)
		goto done;
	if (opts.dry_run_dir != NULL) {
		status = dry_run(&opts, &identity, signer) == 0 ? 0 : 1;
		goto done;
	}
	utc_time_format(utc_now(), started);
	if (admin_request_send(opts.day, REQUEST_TARGET_DAYS, id) != 0)
		goto done;
	status = queue_reports(&opts, id, started) == 0 ? 0 : 1;

done:
	report_identity_free(&identity);
	dkim_signer_free(signer);
	free(dry_run_dir);
	strbuf_free(&error);
	return status;
}
