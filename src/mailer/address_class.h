/*
 * address_class: tell whether an IP address is internal, that is, in a
 * range that no public web server uses: loopback, private networks,
 * link-local, multicast and the like. The mailer uses it to keep HTTPS
 * report POSTs, whose destinations come from DNS, out of the network it
 * runs in.
 *
 * Internal IPv4 ranges: 0.0.0.0/8 (this network), 10.0.0.0/8,
 * 172.16.0.0/12 and 192.168.0.0/16 (private), 100.64.0.0/10 (shared
 * address space), 127.0.0.0/8 (loopback), 169.254.0.0/16 (link-local),
 * 224.0.0.0/4 (multicast), 255.255.255.255 (broadcast) and the rest of
 * 240.0.0.0/4 (reserved).
 *
 * Internal IPv6 ranges: :: (unspecified), ::1 (loopback), fc00::/7
 * (unique local), fe80::/10 (link-local), fec0::/10 (site-local),
 * ff00::/8 (multicast) and 64:ff9b:1::/48 (local-use NAT64).
 * An IPv6 address that carries an IPv4 address is judged by that IPv4
 * address: IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96,
 * IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16
 * and Teredo 2001::/32 (the client's address, RFC 4380).
 *
 * Pure functions on memory: no I/O, no configuration, no logging.
 */
#ifndef TLSRPTD_ADDRESS_CLASS_H
#define TLSRPTD_ADDRESS_CLASS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "strbuf.h"

/* The range an internal address lies in. Both names are static strings. */
struct address_class {
	const char *range;	/* "loopback", "private", ...; NULL if public */
	const char *form;	/* "IPv4-mapped", "NAT64", ... for an IPv4
				 * address inside an IPv6 one, else NULL */
};

/* Classify address. Return true when it is internal; class receives
 * the range either way, with NULL names for a public address. */
bool address_class_internal_ipv4(const struct in_addr *address,
				 struct address_class *class);
bool address_class_internal_ipv6(const struct in6_addr *address,
				 struct address_class *class);

/* The same for an AF_INET or AF_INET6 socket address. Any other family
 * counts as internal, with range "unknown address family". */
bool address_class_internal(const struct sockaddr *address,
			    struct address_class *class);

/* Append the range to out: "loopback", or "private, IPv4-mapped". */
void address_class_describe(const struct address_class *class,
			    struct strbuf *out);

#endif
