/* Cross-thread mailboxes (see mailbox.h): a mutex-protected FIFO plus a
 * uv_async_t to wake the receiving loop. Posting never blocks for long: the
 * lock covers two pointer writes. */
#include "mailbox.h"

#include <stdlib.h>

#include "../lib/mem.h"

struct mailbox {
    uv_async_t async;
    pthread_mutex_t lock;
    mail_t *head, *tail;
    mailbox_cb cb;
    void *data;
    void (*drop)(mail_t *m);
};

static mail_t *take_all(mailbox_t *mb)
{
    pthread_mutex_lock(&mb->lock);
    mail_t *m = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    return m;
}

static void async_cb(uv_async_t *a)
{
    mailbox_t *mb = a->data;
    mail_t *m = take_all(mb);
    while (m) {
        mail_t *next = m->next;
        m->next = NULL;
        mb->cb(mb, m, mb->data);
        m = next;
    }
}

mailbox_t *mailbox_new(uv_loop_t *loop, mailbox_cb cb, void *data)
{
    mailbox_t *mb = xcalloc(1, sizeof *mb);
    pthread_mutex_init(&mb->lock, NULL);
    mb->cb = cb;
    mb->data = data;
    uv_async_init(loop, &mb->async, async_cb);
    mb->async.data = mb;
    return mb;
}

void mailbox_post(mailbox_t *mb, mail_t *m)
{
    m->next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->lock);
    uv_async_send(&mb->async);
}

static void closed_cb(uv_handle_t *h)
{
    mailbox_t *mb = h->data;
    mail_t *m = take_all(mb);
    while (m) {
        mail_t *next = m->next;
        if (mb->drop)
            mb->drop(m);
        m = next;
    }
    pthread_mutex_destroy(&mb->lock);
    free(mb);
}

void mailbox_close(mailbox_t *mb, void (*drop)(mail_t *m))
{
    mb->drop = drop;
    uv_close((uv_handle_t *)&mb->async, closed_cb);
}
