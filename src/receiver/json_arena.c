/*
 * json_arena: a bump allocator behind cJSON's hooks; see json_arena.h.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "json_arena.h"
#include "xalloc.h"

#define ALIGNMENT 16 /* what malloc() guarantees on x86-64 */

/* cJSON's hooks take no context, so the region is module state. */
static unsigned char *region;
static size_t used;

static bool in_region(const void *pointer)
{
	uintptr_t address = (uintptr_t)pointer;
	uintptr_t start = (uintptr_t)region;

	return address >= start && address - start < JSON_ARENA_SIZE;
}

static void *arena_malloc(size_t size)
{
	size_t rounded = (size + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
	void *pointer;

	if (rounded < size || rounded > JSON_ARENA_SIZE - used)
		return malloc(size);
	pointer = region + used;
	used += rounded;
	return pointer;
}

static void arena_free(void *pointer)
{
	if (!in_region(pointer))
		free(pointer);
}

void json_arena_install(void)
{
	cJSON_Hooks hooks = {arena_malloc, arena_free};

	region = xmalloc(JSON_ARENA_SIZE);
	used = 0;
	cJSON_InitHooks(&hooks);
}

void json_arena_reset(void)
{
	used = 0;
}
