/*
 * address_class: internal IPv4 and IPv6 address ranges (see
 * address_class.h).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "address_class.h"

struct ipv4_range {
	uint32_t network;	/* host byte order */
	unsigned prefix_len;
	const char *name;
};

/* The first match wins, so broadcast comes before the rest of 240/4. */
static const struct ipv4_range ipv4_ranges[] = {
	{ 0x00000000, 8, "this network" },
	{ 0x0a000000, 8, "private" },
	{ 0x64400000, 10, "shared address space" },
	{ 0x7f000000, 8, "loopback" },
	{ 0xa9fe0000, 16, "link-local" },
	{ 0xac100000, 12, "private" },
	{ 0xc0a80000, 16, "private" },
	{ 0xe0000000, 4, "multicast" },
	{ 0xffffffff, 32, "broadcast" },
	{ 0xf0000000, 4, "reserved" },
};

struct ipv6_range {
	uint8_t network[16];
	unsigned prefix_len;
	const char *name;
};

static const struct ipv6_range ipv6_ranges[] = {
	{ { 0 }, 128, "unspecified" },
	{ { [15] = 1 }, 128, "loopback" },
	{ { 0xfc }, 7, "unique local" },
	{ { 0xfe, 0x80 }, 10, "link-local" },
	{ { 0xfe, 0xc0 }, 10, "site-local" },
	{ { 0xff }, 8, "multicast" },
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, "local-use NAT64" },
};

/* IPv6 prefixes that carry an IPv4 address in four bytes from offset,
 * with its bits inverted where invert is set. */
struct ipv4_embedding {
	uint8_t prefix[16];
	unsigned prefix_len;
	unsigned offset;
	bool invert;
	const char *form;
};

/* :: and ::1 are inside ::/96, and ipv6_ranges judges them first. */
static const struct ipv4_embedding embeddings[] = {
	{ { [10] = 0xff, [11] = 0xff }, 96, 12, false, "IPv4-mapped" },
	{ { 0 }, 96, 12, false, "IPv4-compatible" },
	{ { [8] = 0xff, [9] = 0xff }, 96, 12, false, "IPv4-translated" },
	{ { 0x00, 0x64, 0xff, 0x9b }, 96, 12, false, "NAT64" },
	{ { 0x20, 0x02 }, 16, 2, false, "6to4" },
	/* RFC 4380: the last four bytes are the client's mapped IPv4
	 * address with every bit inverted. */
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, 12, true, "Teredo" },
};

static bool ipv4_in(uint32_t address, const struct ipv4_range *range)
{
	uint32_t mask = range->prefix_len == 0 ? 0
		: 0xffffffffu << (32 - range->prefix_len);

	return (address & mask) == range->network;
}

static bool ipv6_in(const uint8_t *address, const uint8_t *network,
		    unsigned prefix_len)
{
	unsigned whole = prefix_len / 8;
	unsigned rest = prefix_len % 8;
	uint8_t mask;

	if (memcmp(address, network, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (address[whole] & mask) == network[whole];
}

static const char *ipv4_range_name(uint32_t address)
{
	size_t i;

	for (i = 0; i < sizeof(ipv4_ranges) / sizeof(ipv4_ranges[0]); i++)
		if (ipv4_in(address, &ipv4_ranges[i]))
			return ipv4_ranges[i].name;
	return NULL;
}

bool address_class_internal_ipv4(const struct in_addr *address,
				 struct address_class *class)
{
	class->range = ipv4_range_name(ntohl(address->s_addr));
	class->form = NULL;
	return class->range != NULL;
}

/* The IPv4 address at bytes[offset], in host byte order. */
static uint32_t ipv4_at(const uint8_t *bytes, unsigned offset)
{
	return (uint32_t)bytes[offset] << 24 | (uint32_t)bytes[offset + 1] << 16
		| (uint32_t)bytes[offset + 2] << 8 | bytes[offset + 3];
}

bool address_class_internal_ipv6(const struct in6_addr *address,
				 struct address_class *class)
{
	const uint8_t *bytes = address->s6_addr;
	size_t i;

	class->range = NULL;
	class->form = NULL;
	for (i = 0; i < sizeof(ipv6_ranges) / sizeof(ipv6_ranges[0]); i++)
		if (ipv6_in(bytes, ipv6_ranges[i].network,
			    ipv6_ranges[i].prefix_len)) {
			class->range = ipv6_ranges[i].name;
			return true;
		}

	/* An embedded IPv4 address reaches that IPv4 host, through the
	 * kernel's own IPv4 stack, a translator or a tunnel. */
	for (i = 0; i < sizeof(embeddings) / sizeof(embeddings[0]); i++) {
		const struct ipv4_embedding *embedding = &embeddings[i];
		uint32_t ipv4;

		if (!ipv6_in(bytes, embedding->prefix, embedding->prefix_len))
			continue;
		ipv4 = ipv4_at(bytes, embedding->offset);
		if (embedding->invert)
			ipv4 = ~ipv4;
		class->range = ipv4_range_name(ipv4);
		if (class->range != NULL)
			class->form = embedding->form;
		return class->range != NULL;
	}
	return false;
}

bool address_class_internal(const struct sockaddr *address,
			    struct address_class *class)
{
	if (address->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)address;

		return address_class_internal_ipv4(&sin->sin_addr, class);
	}
	if (address->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)address;

		return address_class_internal_ipv6(&sin6->sin6_addr, class);
	}
	class->range = "unknown address family";
	class->form = NULL;
	return true;
}

void address_class_describe(const struct address_class *class,
			    struct strbuf *out)
{
	strbuf_puts(out, class->range != NULL ? class->range : "public");
	if (class->form != NULL)
		strbuf_printf(out, ", %s", class->form);
}
