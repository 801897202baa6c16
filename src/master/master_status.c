/*
 * master_status: write pid/status, the table that "tlsrptd status" shows.
 *
 * The file is rewritten as a whole, through a temporary file and
 * rename(), whenever a service changes, at most once per second. Its
 * format is described in master_pid.h. It is removed when the master
 * stops.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master.h"
#include "master_pid.h"
#include "msg.h"

#define STATUS_INTERVAL_MS	1000
#define STATUS_TMP_FILE		MASTER_STATUS_FILE ".tmp"

void master_status_changed(struct master *master)
{
	master->status_dirty = true;
}

static void write_service(FILE *fp, const struct service *service)
{
	char pid[24] = "-";

	if (service->pid != 0)
		snprintf(pid, sizeof(pid), "%ld", (long)service->pid);
	fprintf(fp, "%-12s %-7s %-10s %-9u %s\n", service->entry.service, pid,
		master_service_state_name(service->state), service->restarts,
		service->last_status != NULL ? service->last_status : "-");
}

static int write_file(const struct master *master)
{
	FILE *fp = fopen(STATUS_TMP_FILE, "we");
	size_t i;

	if (fp == NULL)
		return -1;
	fprintf(fp, "%-12s %-7s %-10s %-9s %s\n", "service", "pid", "state",
		"restarts", "status");
	for (i = 0; i < master->service_count; i++)
		write_service(fp, master->services[i]);
	if (fclose(fp) != 0) {
		unlink(STATUS_TMP_FILE);
		return -1;
	}
	return rename(STATUS_TMP_FILE, MASTER_STATUS_FILE);
}

/* Write the file if something changed and the last write is old enough. */
void master_status_flush(struct master *master, long long now)
{
	static struct msg_rate failed = MSG_RATE_INIT("status write failed",
						      1, 3600);

	if (!master->status_dirty || (master->status_written != 0
				      && now - master->status_written
				      < STATUS_INTERVAL_MS))
		return;
	if (write_file(master) != 0 && msg_rate_allow(&failed))
		msg_warn("cannot write %s/%s: %s", master->queue_dir,
			 MASTER_STATUS_FILE, strerror(errno));
	master->status_dirty = false;
	master->status_written = now;
}

/* When master_status_flush() has work next, or -1. */
long long master_status_next_write(const struct master *master)
{
	if (!master->status_dirty)
		return -1;
	return master->status_written + STATUS_INTERVAL_MS;
}

void master_status_remove(void)
{
	if (unlink(MASTER_STATUS_FILE) != 0 && errno != ENOENT)
		msg_warn("cannot remove %s: %s", MASTER_STATUS_FILE,
			 strerror(errno));
}
