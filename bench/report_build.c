/*
 * report_build: time building the reports of one summary file, without
 * writing delivery files; bench/report_bench.py runs it.
 *
 *	report_build [-l] -c CONFIG_DIR SUMMARY
 *
 * By default the summary is streamed and every report built as the
 * reporter builds it (summary_stream_next() and report_build_group()),
 * one report in memory at a time. With -l the summary is loaded whole
 * and built with report_build_all(), as "tlsrptd report --dry-run" does.
 * The identity and the report_* limits come from CONFIG_DIR/main.cf. An
 * unsorted summary is sorted through scratch files in $TMPDIR (or /tmp).
 *
 * The glibc heap is set up as the reporter sets it (see keep_heap() in
 * src/reporter/reporter.c). Prints one line: reports, gzip'd octets,
 * wall seconds, peak RSS in KiB (VmHWM from /proc/self/status, so Linux
 * only).
 */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "report.h"
#include "strbuf.h"
#include "summary_file.h"
#include "xalloc.h"

struct totals {
	size_t reports;
	unsigned long long octets;
};

static long peak_rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long peak = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			peak = strtol(line + 6, NULL, 10);
	fclose(fp);
	return peak;
}

static int build_streamed(const char *path,
			  const struct report_identity *identity,
			  struct totals *totals, struct strbuf *error)
{
	const char *tmpdir = getenv("TMPDIR");
	char *scratch = xasprintf("%s/report_build.XXXXXX",
				  tmpdir != NULL ? tmpdir : "/tmp");
	struct summary_stream stream;
	struct summary_group group;
	int status;

	status = summary_stream_open(&stream, path, scratch, NULL, error);
	free(scratch);
	if (status != 0)
		return -1;
	while ((status = summary_stream_next(&stream, &group, error)) == 1) {
		struct report report;

		if (report_build_group(&group, stream.day, identity, &report)
		    != 0)
			continue;
		totals->reports++;
		totals->octets += report.gzip_len;
		report_free(&report);
	}
	summary_stream_close(&stream);
	return status;
}

static int build_loaded(const char *path,
			const struct report_identity *identity,
			struct totals *totals, struct strbuf *error)
{
	struct summary summary;
	struct report *reports;
	size_t count;
	size_t i;

	if (summary_read(path, &summary, error) != 0)
		return -1;
	if (report_build_all(&summary, identity, &reports, &count, error)
	    != 0) {
		summary_free(&summary);
		return -1;
	}
	totals->reports = count;
	for (i = 0; i < count; i++)
		totals->octets += reports[i].gzip_len;
	report_free_all(reports, count);
	summary_free(&summary);
	return 0;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec)
		+ (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	struct report_identity identity;
	struct totals totals = { 0, 0 };
	struct timespec start;
	struct strbuf error;
	const char *config_dir = NULL;
	bool loaded = false;
	int option;
	int status;

	while ((option = getopt(argc, argv, "c:l")) != -1) {
		if (option == 'c')
			config_dir = optarg;
		else if (option == 'l')
			loaded = true;
		else
			return 2;
	}
	if (config_dir == NULL || optind != argc - 1) {
		fprintf(stderr, "usage: report_build [-l] -c CONFIG_DIR "
			"SUMMARY\n");
		return 2;
	}
	/* The heap setting of the reporter's keep_heap(). */
#ifdef M_TRIM_THRESHOLD
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif
	strbuf_init(&error);
	if (config_load(config_dir, &error) != 0
	    || report_identity_from_config(&identity, &error) != 0) {
		fprintf(stderr, "report_build: %s\n", error.data);
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	status = loaded ? build_loaded(argv[optind], &identity, &totals, &error)
		: build_streamed(argv[optind], &identity, &totals, &error);
	if (status != 0) {
		fprintf(stderr, "report_build: %s: %s\n", argv[optind],
			error.data);
		return 1;
	}
	printf("reports=%zu octets=%llu seconds=%.2f peak_rss_kb=%ld\n",
	       totals.reports, totals.octets, seconds_since(&start),
	       peak_rss_kb());
	report_identity_free(&identity);
	strbuf_free(&error);
	config_free();
	return 0;
}
