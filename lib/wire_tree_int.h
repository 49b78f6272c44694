/* wire_tree_int.h: between wire.c and wire_tree.c: the field checks of
 * the reconciliation frames (0 or a WIRE_E* code), and the bounds-checked
 * reader both decode with. */
#ifndef MHAFS_WIRE_TREE_INT_H
#define MHAFS_WIRE_TREE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* A bounds-checked reader over a payload or a body: need() says whether n
 * more bytes are there (0 or WIRE_ETRUNC), take() then takes them. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static inline int need(const struct rd *r, size_t n)
{
	return r->left >= n ? 0 : WIRE_ETRUNC;
}

static inline const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

int wire_tree_check_req(const struct wire_tree_req *m);
/* Also walks and checks every item of the body. */
int wire_tree_check_resp(const struct wire_tree_resp *m);

#endif
