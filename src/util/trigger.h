/*
 * trigger: one-byte wakeups between the suite's programs.
 *
 * Each triggerable service has a FIFO "private/<service>" in the queue
 * directory, made by the master with mode 0600. The service keeps it open
 * for reading and writing (so it never sees end-of-file) and polls it; a
 * sender opens it non-blocking and writes one byte. A trigger to a service
 * that is not running is dropped silently: the periodic wakeup from the
 * master catches up. No data ever travels through a trigger.
 */
#ifndef TLSRPTD_TRIGGER_H
#define TLSRPTD_TRIGGER_H

#define TRIGGER_WAKEUP	'W'	/* new work may be waiting */
#define TRIGGER_FLUSH	'F'	/* mailer: retry deferred deliveries now */
#define TRIGGER_REQUEST	'R'	/* aggregator: an admin request is waiting */

int trigger_create(const char *service);
int trigger_listen(const char *service);
int trigger_send(const char *service, char code);
int trigger_drain(int fd, char *codes, size_t size);

#endif
