/*
 * json_arena: cJSON's allocations in the receive loop come from one
 * region that is reset after each datagram.
 *
 * A libtlsrpt datagram of about 420 bytes becomes some 80 cJSON nodes and
 * strings, each a malloc() and a free(). Measured with callgrind on the
 * development machine, those calls were a fifth of the receive loop's
 * instructions. With json_arena_install(), cJSON allocates from a bump
 * region instead, and json_arena_reset() makes the whole region free
 * again once the datagram is freed. A request that does not fit, from a
 * large hostile datagram, goes to malloc() as before, and the free hook
 * compares the address with the region to decide which it is.
 *
 * The hooks are process-wide and the region has no lock, so only one
 * thread may use cJSON after json_arena_install(): in the receiver, the
 * receive loop. json_arena_reset() may only be called when nothing that
 * cJSON allocated from the region is in use.
 */
#ifndef TLSRPTD_RECEIVER_JSON_ARENA_H
#define TLSRPTD_RECEIVER_JSON_ARENA_H

#define JSON_ARENA_SIZE (256 * 1024)

void json_arena_install(void);
void json_arena_reset(void);

#endif
