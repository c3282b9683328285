/* A mailbox: how one thread's loop hands messages to another's. Any thread
 * may post; the owning loop's callback receives every message, in posting
 * order, on its own thread. This is the only way shards, the control thread
 * and main exchange data (DESIGN.md 2.1). Depends on libuv and lib/. */
#ifndef DORM_NET_MAILBOX_H
#define DORM_NET_MAILBOX_H
#include <pthread.h>
#include <uv.h>

typedef struct mail {
    struct mail *next;
    int kind; /* the receiver's own message kinds */
} mail_t;     /* embed as the first member of a message struct */

typedef struct mailbox mailbox_t;
typedef void (*mailbox_cb)(mailbox_t *mb, mail_t *m, void *data);

/* Created on the receiving loop's thread. The callback owns each message. */
mailbox_t *mailbox_new(uv_loop_t *loop, mailbox_cb cb, void *data);
/* Any thread. Never fails. */
void mailbox_post(mailbox_t *mb, mail_t *m);
/* Receiving thread: stops delivery; messages still queued are handed to
 * drop (may be NULL) when the close completes; the mailbox is freed then. */
void mailbox_close(mailbox_t *mb, void (*drop)(mail_t *m));

#endif
