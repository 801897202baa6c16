/*
 * intern: the string set of the fold; see intern.h.
 *
 * Open addressing with linear probing, at most half full. Batch lines
 * are hostile input, so the hash is seeded once per process from
 * getrandom(): datagrams chosen to collide in one process do not collide
 * in another.
 * NOTE: the multiply-and-shift hash is fast but not a keyed hash; an
 * attacker who could measure the aggregator's timing might still find
 * collisions. SipHash would close that, at some cost per datagram.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "intern.h"
#include "xalloc.h"

#define INTERN_INITIAL_SLOTS 1024
#define INTERN_BLOCK_BYTES (64 * 1024)

struct intern_block {
	struct intern_block *next;
	size_t used;
	size_t size;
	_Alignas(max_align_t) char data[];
};

static uint64_t hash_seed(void)
{
	static uint64_t seed;
	static int seeded;

	if (!seeded) {
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)getpid();
		seeded = 1;
	}
	return seed;
}

static uint64_t mix_word(uint64_t hash, uint64_t word)
{
	hash ^= word;
	hash *= 0x9e3779b97f4a7c15ULL;
	return hash ^ (hash >> 32);
}

/* Hash eight bytes at a time; the length goes in first, so texts that
 * differ only in trailing zero bytes differ. */
uint64_t intern_hash(const void *data, size_t len)
{
	const unsigned char *bytes = data;
	uint64_t hash = mix_word(hash_seed(), len);
	uint64_t word;

	for (; len >= 8; len -= 8, bytes += 8) {
		memcpy(&word, bytes, 8);
		hash = mix_word(hash, word);
	}
	word = 0;
	memcpy(&word, bytes, len);
	return mix_word(hash, word);
}

void intern_init(struct intern *table)
{
	memset(table, 0, sizeof(*table));
}

/* Take size bytes from a block, at an offset aligned to align; a large
 * request gets a block of its own. */
static void *take(struct intern *table, size_t size, size_t align)
{
	struct intern_block *block = table->blocks;
	size_t offset = 0;

	if (block != NULL)
		offset = (block->used + align - 1) & ~(align - 1);
	if (block == NULL || offset > block->size ||
	    block->size - offset < size) {
		size_t block_size =
		    size > INTERN_BLOCK_BYTES / 4 ? size : INTERN_BLOCK_BYTES;

		block = xmalloc(sizeof(*block) + block_size);
		block->used = 0;
		block->size = block_size;
		table->bytes += sizeof(*block) + block_size;
		offset = 0;

		/* A full-size block goes first so that it serves the next
		 * requests; a private one stays behind it. */
		if (block_size == INTERN_BLOCK_BYTES || table->blocks == NULL) {
			block->next = table->blocks;
			table->blocks = block;
		} else {
			block->next = table->blocks->next;
			table->blocks->next = block;
		}
	}
	block->used = offset + size;
	return block->data + offset;
}

static const char *store_text(struct intern *table, const char *text,
			      size_t len)
{
	char *copy = take(table, len + 1, 1);

	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

/* Return zeroed memory that lives until intern_free(). */
void *intern_alloc(struct intern *table, size_t size)
{
	void *memory = take(table, size, _Alignof(max_align_t));

	memset(memory, 0, size);
	return memory;
}

static struct intern_entry *probe(const struct intern *table, const char *text,
				  size_t len, uint64_t hash)
{
	size_t mask = table->capacity - 1;
	size_t index = (size_t)hash & mask;

	for (;;) {
		struct intern_entry *entry = &table->slots[index];

		if (entry->text == NULL ||
		    (entry->hash == hash && entry->len == len &&
		     memcmp(entry->text, text, len) == 0))
			return entry;
		index = (index + 1) & mask;
	}
}

static void grow(struct intern *table)
{
	struct intern_entry *old = table->slots;
	size_t old_capacity = table->capacity;
	size_t i;

	table->capacity = old_capacity ? old_capacity * 2 : INTERN_INITIAL_SLOTS;
	table->slots = xcalloc(table->capacity, sizeof(*table->slots));
	table->bytes += (table->capacity - old_capacity) * sizeof(*table->slots);
	for (i = 0; i < old_capacity; i++) {
		if (old[i].text != NULL)
			*probe(table, old[i].text, old[i].len, old[i].hash) =
			    old[i];
	}
	free(old);
}

struct intern_entry *intern_find(const struct intern *table, const char *text,
				 size_t len)
{
	struct intern_entry *entry;

	if (table->count == 0)
		return NULL;
	entry = probe(table, text, len, intern_hash(text, len));
	return entry->text != NULL ? entry : NULL;
}

struct intern_entry *intern_add(struct intern *table, const char *text,
				size_t len)
{
	uint64_t hash = intern_hash(text, len);
	struct intern_entry *entry;

	if ((table->count + 1) * 2 > table->capacity)
		grow(table);
	entry = probe(table, text, len, hash);
	if (entry->text == NULL) {
		entry->text = store_text(table, text, len);
		entry->len = len;
		entry->hash = hash;
		entry->value = NULL;
		table->count++;
	}
	return entry;
}

void intern_free(struct intern *table)
{
	struct intern_block *block = table->blocks;

	while (block != NULL) {
		struct intern_block *next = block->next;

		free(block);
		block = next;
	}
	free(table->slots);
	memset(table, 0, sizeof(*table));
}
