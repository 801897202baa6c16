/*
 * sysctl_check: read Linux kernel parameters from /proc/sys, and judge
 * the one that decides whether the MTA's datagrams get lost.
 *
 * On Linux a unix datagram socket queues at most net.unix.max_dgram_qlen
 * datagrams, whatever its buffer size; the default is 10. libtlsrpt
 * sends without waiting, so while the receiver is busy for a moment, the
 * datagrams beyond that queue are lost without a trace. The value in
 * force when the master creates the socket is the one that counts.
 *
 * sysctl_read() takes the dotted name ("net.unix.max_dgram_qlen"). When
 * the parameter cannot be read it returns -1 with errno set: ENOENT on a
 * system without it (the BSDs), EINVAL for a name that is not a plain
 * dotted name or a value that is not one integer.
 *
 * sysctl_dgram_qlen_advice() writes a warning for a queue length below
 * SYSCTL_DGRAM_QLEN_RECOMMENDED and returns 1, or returns 0 when the
 * value is fine. sysctl_check_dgram_qlen() does both steps for
 * "tlsrptd check": it returns 1 with the warning, 0 when fine, and -1
 * with the reason when the value cannot be read.
 */
#ifndef TLSRPTD_SYSCTL_CHECK_H
#define TLSRPTD_SYSCTL_CHECK_H

#include "strbuf.h"

#define SYSCTL_DGRAM_QLEN "net.unix.max_dgram_qlen"
#define SYSCTL_DGRAM_QLEN_DEFAULT 10	  /* Linux's default */
#define SYSCTL_DGRAM_QLEN_RECOMMENDED 1024 /* what INSTALL recommends */

int sysctl_read(const char *name, long long *value);
int sysctl_dgram_qlen_advice(long long qlen, struct strbuf *warning);
int sysctl_check_dgram_qlen(struct strbuf *message);

#endif
