/*
 * corrupt: save rejected datagrams in corrupt/ for the administrator,
 * within a cap on files and bytes.
 *
 *	tlsrptd-corrupt 1
 *	received: 2026-12-04T20:33:03Z
 *	reason: policies[0].f: expected an integer from 0 to 1
 *	peer-uid: 110
 *	size: 312
 *
 *	eyJkcHYiOiIxIiwiZCI6ImV4YW1wbGUuY29tIiwicHIiOiJ2PVRMU1JQVHYxO3J1YT1t
 *	...
 *	end 312
 *
 * The body is the datagram's raw bytes in base64, 76 columns. "size" is
 * the size the sender sent and the end record counts the bytes saved,
 * which is smaller only for a datagram larger than DATAGRAM_MAX_SIZE.
 * "peer-uid" is "-" when the kernel passed no credentials.
 *
 * A flood of garbage must not fill the disk: at most
 * receiver_corrupt_limit files and receiver_corrupt_size_limit bytes are
 * kept in corrupt/. The count starts from what is there at start. While
 * the cap is reached, a rejected datagram makes the directory be counted
 * again, at most once a minute, so files that the administrator deletes
 * make room again.
 */
#ifndef TLSRPTD_RECEIVER_CORRUPT_H
#define TLSRPTD_RECEIVER_CORRUPT_H

#include <stddef.h>
#include <time.h>

#include "queue_file.h"
#include "strbuf.h"

#define CORRUPT_KIND "corrupt"
#define CORRUPT_OWNER "receiver-corrupt" /* tmp/ file prefix */
#define CORRUPT_VERSION 1
#define CORRUPT_LINE_LEN 76

/* A rejected datagram on its way from the receive loop to corrupt/. */
struct corrupt_datagram {
	struct corrupt_datagram *next;
	time_t received;
	long long peer_uid; /* -1 when the kernel passed no credentials */
	size_t size;	    /* bytes the sender sent */
	size_t data_len;    /* bytes in data: size, or at most
			     * DATAGRAM_MAX_SIZE of a larger one */
	char *reason;
	unsigned char data[];
};

struct corrupt_store {
	unsigned long long files; /* files in corrupt/ */
	unsigned long long bytes; /* their total size */
	long long file_limit;
	long long size_limit;
	time_t counted; /* when corrupt/ was last listed */
};

enum corrupt_result {
	CORRUPT_SAVED,
	CORRUPT_OVER_LIMIT,
	CORRUPT_FAILED,
};

struct corrupt_datagram *corrupt_datagram_new(time_t received,
					      long long peer_uid, size_t size,
					      const void *data, size_t data_len,
					      const char *reason);
void corrupt_datagram_free(struct corrupt_datagram *datagram);

int corrupt_store_init(struct corrupt_store *store, long long file_limit,
		       long long size_limit);
enum corrupt_result corrupt_store_save(struct corrupt_store *store,
				       const struct corrupt_datagram *datagram,
				       char id[QUEUE_ID_LEN + 1],
				       struct strbuf *error);
void corrupt_store_describe_limit(const struct corrupt_store *store,
				  struct strbuf *out);

#endif
