/*
 * day_status: the counts of a UTC day so far, per recipient domain, for
 * "tlsrptd status --day D".
 *
 * day_status_command() accepts YYYY-MM-DD, "today" or "yesterday", asks
 * the running aggregator for the day's summary (admin_request.h) and
 * prints it with day_status_print(). Call it after main.cf is loaded; it
 * changes to queue_directory. It returns the exit status: 0 on success,
 * 1 when the suite does not run or the aggregator does not answer, 2 for
 * an invalid day.
 *
 * day_status_print() writes this table, a documented interface:
 *
 *	day 2026-12-04: preview summary, 2 domains, 130 sessions, 6 failures
 *	domain                             sessions   failures  top ...
 *	example.com                             126          6  certif...
 *	xn--bcher-kva.example                     4          0  -
 *
 * The domain column is 32 characters wide (longer names push the row
 * right), the counts 10 digits, and the failure types read
 * "certificate-expired 4, starttls-not-supported 1" or "-" for none.
 *
 * The kind is "preview" while the day is open and "final" once it is
 * closed. Domains are in A-labels, sorted by name; each row adds up
 * every TLSRPT record and policy of the domain. "sessions" counts
 * successful and failed sessions, "failures" the failed ones, and the
 * top failure types are the DAY_STATUS_TOP_TYPES result types with the
 * most failure-detail counts, largest first. A day with no counters
 * prints the first line only; day_status_command() then adds why:
 *
 *	nothing counted for 2099-01-01 (a day in the future)
 *
 * or "(older than keep_days = 31: expired)" or "(no datagrams counted
 * that day)" (admin_request_empty_reason()).
 */
#ifndef TLSRPTD_DAY_STATUS_H
#define TLSRPTD_DAY_STATUS_H

#include <stdio.h>

#include "summary_file.h"

#define DAY_STATUS_TOP_TYPES 3

int day_status_command(const char *day);
void day_status_print(const struct summary *summary, FILE *out);

#endif
