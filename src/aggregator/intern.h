/*
 * intern: a set of strings in which each distinct string is stored once,
 * so that equal strings have equal pointers.
 *
 * The fold of a batch meets the same domain, record and policy key in
 * thousands of datagrams. Interning stores each once, so counters are
 * found by comparing pointers. intern_add() returns the entry of a
 * string, adding a copy on first sight; intern_find() only looks. An
 * entry also has a value pointer for the caller, which the fold uses to
 * remember the policy key of a policy it has seen.
 *
 * Entry text lives in large blocks that intern_free() releases together,
 * so it stays valid until then; the entry itself moves when the table
 * grows, so an entry pointer is valid only until the next intern_add().
 * intern_alloc() takes other memory from the same blocks, with the same
 * lifetime, for values. Memory grows with the distinct strings added,
 * never with repeats; bytes counts all of it.
 */
#ifndef TLSRPTD_INTERN_H
#define TLSRPTD_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct intern_entry {
	const char *text; /* NUL-terminated; NULL in a free slot */
	size_t len;
	uint64_t hash;
	const void *value; /* the caller's, NULL when added */
};

struct intern_block;

struct intern {
	struct intern_entry *slots; /* open addressing */
	size_t capacity;	    /* a power of two */
	size_t count;
	size_t bytes; /* blocks and slots allocated */
	struct intern_block *blocks;
};

void intern_init(struct intern *table);
struct intern_entry *intern_add(struct intern *table, const char *text,
				size_t len);
struct intern_entry *intern_find(const struct intern *table, const char *text,
				 size_t len);
void *intern_alloc(struct intern *table, size_t size);
void intern_free(struct intern *table);
uint64_t intern_hash(const void *data, size_t len);

/* Return the stored copy of a NUL-terminated string. */
static inline const char *intern_string(struct intern *table, const char *text,
					size_t len)
{
	return intern_add(table, text, len)->text;
}

#endif
