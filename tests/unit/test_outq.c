/* test_outq.c — a connection's output queue and the piece assembly table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/assembly.h"
#include "core/outq.h"

static void put(sh_outq *q, const char *s)
{
    size_t mark;
    sh_bbuf *b = sh_outq_tail(q, &mark);
    assert_non_null(b);
    sh_bbuf_raw(b, s, strlen(s));
    sh_outq_commit(q, mark);
}

static void test_runs_and_blocks(void **st)
{
    (void)st;
    sh_outq q;
    sh_outq_init(&q);
    assert_true(sh_outq_empty(&q));
    put(&q, "abc");
    put(&q, "de"); /* joins the tail run */
    assert_int_equal(sh_outq_block(&q, 7, 16384, 1000), 0);
    put(&q, "xyz");
    sh_seg s[8];
    assert_int_equal(sh_outq_peek(&q, s, 8), 3);
    assert_int_equal(s[0].kind, SH_SEG_BYTES);
    assert_int_equal(s[0].len, 5);
    assert_memory_equal(s[0].ptr, "abcde", 5);
    assert_int_equal(s[1].kind, SH_SEG_BLOCK);
    assert_int_equal(s[1].piece, 7);
    assert_int_equal(s[1].offset, 16384);
    assert_int_equal(s[1].len, 1000);
    assert_int_equal(q.bytes, 1008);
    assert_int_equal(sh_outq_peek(&q, s, 1), 1);
    /* partial sends adjust the front */
    assert_int_equal(sh_outq_consume(&q, 3), 0);
    sh_outq_peek(&q, s, 8);
    assert_int_equal(s[0].len, 2);
    assert_memory_equal(s[0].ptr, "de", 2);
    assert_int_equal(sh_outq_consume(&q, 2 + 400), 400);
    assert_int_equal(sh_outq_peek(&q, s, 8), 2);
    assert_int_equal(s[0].offset, 16384 + 400);
    assert_int_equal(s[0].len, 600);
    assert_int_equal(q.blocks, 1);
    assert_int_equal(sh_outq_consume(&q, 600 + 1), 600);
    assert_int_equal(q.blocks, 0);
    sh_outq_peek(&q, s, 8);
    assert_memory_equal(s[0].ptr, "yz", 2);
    assert_int_equal(sh_outq_consume(&q, 1000), 0); /* clamped */
    assert_true(sh_outq_empty(&q));
    assert_int_equal(q.bytes, 0);
    sh_outq_free(&q);
}

static void test_many_items(void **st)
{
    (void)st;
    sh_outq q;
    sh_outq_init(&q);
    uint64_t payload = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        put(&q, "hdr");
        assert_int_equal(sh_outq_block(&q, i, 0, 10 + i % 7), 0);
        payload += 10 + i % 7;
        if (i % 3 == 0) payload -= sh_outq_consume(&q, 5);
    }
    uint64_t got = 0;
    while (!sh_outq_empty(&q))
        got += sh_outq_consume(&q, 7);
    assert_int_equal(got, payload);
    sh_outq_free(&q);
}

static void test_compaction(void **st)
{
    (void)st;
    sh_outq q;
    sh_outq_init(&q);
    char chunk[1001];
    memset(chunk, 'a', 1000);
    chunk[1000] = 0;
    for (int i = 0; i < 1000; i++) { /* a front run that keeps growing while sent */
        put(&q, chunk);
        sh_outq_consume(&q, 999);
    }
    assert_int_equal(q.bytes, 1000);
    assert_true(q.items[q.head].bytes.len < 200000); /* the sent prefix was dropped */
    sh_outq_free(&q);
}

static void test_assembly(void **st)
{
    (void)st;
    sh_assembly a;
    sh_asm_init(&a);
    for (uint32_t p = 20; p > 0; p -= 2)
        assert_non_null(sh_asm_get(&a, p, 100));
    for (size_t i = 1; i < a.n; i++)
        assert_true(a.v[i - 1]->piece < a.v[i]->piece);
    assert_null(sh_asm_find(&a, 3));
    sh_asm_piece *p = sh_asm_find(&a, 4);
    assert_non_null(p);
    assert_ptr_equal(sh_asm_get(&a, 4, 100), p);
    sh_addr x = {.family = 4, .ip = {10, 0, 0, 1}, .port = 1}, y = x;
    y.port = 2;
    assert_int_equal(sh_asm_write(p, 90, (const uint8_t *)"0123456789", 10, &x), 0);
    assert_int_equal(sh_asm_write(p, 91, (const uint8_t *)"0123456789", 10, &x), SH_ERANGE);
    assert_int_equal(sh_asm_write(p, 0, (const uint8_t *)"z", 1, &y), 0);
    assert_int_equal(p->ncontrib, 1); /* same IP, other port: one contributor */
    assert_memory_equal(p->buf + 90, "0123456789", 10);
    assert_int_equal(sh_asm_bytes(&a), 1000);
    sh_asm_drop(&a, 4);
    sh_asm_drop(&a, 5);
    assert_null(sh_asm_find(&a, 4));
    assert_int_equal(a.n, 9);
    assert_null(sh_asm_get(&a, 99, 0));
    sh_asm_free(&a);
}

/* Buffers of dropped pieces are reused (same length only), bounded, and
 * released once nothing is being assembled. */
static void test_assembly_spares(void **st)
{
    (void)st;
    sh_assembly a;
    sh_asm_init(&a);
    sh_asm_piece *keep = sh_asm_get(&a, 1, 100); /* something stays in progress */
    assert_non_null(keep);
    uint8_t *bufs[SH_ASM_SPARE + 2];
    for (uint32_t i = 0; i < SH_ASM_SPARE + 2; i++) {
        sh_asm_piece *p = sh_asm_get(&a, 10 + i, 100);
        assert_non_null(p);
        bufs[i] = p->buf;
    }
    for (uint32_t i = 0; i < SH_ASM_SPARE + 2; i++)
        sh_asm_drop(&a, 10 + i);
    assert_int_equal(a.nspare, SH_ASM_SPARE); /* the rest were freed */
    assert_int_equal(a.spare_bytes, SH_ASM_SPARE * 100);
    /* a different length gets a new buffer and leaves the spares alone */
    sh_asm_piece *odd = sh_asm_get(&a, 50, 60);
    assert_non_null(odd);
    assert_int_equal(a.nspare, SH_ASM_SPARE);
    /* the same length takes one of the dropped buffers */
    sh_asm_piece *p = sh_asm_get(&a, 51, 100);
    assert_non_null(p);
    assert_int_equal(a.nspare, SH_ASM_SPARE - 1);
    bool reused = false;
    for (uint32_t i = 0; i < SH_ASM_SPARE + 2; i++)
        reused |= p->buf == bufs[i];
    assert_true(reused);
    assert_int_equal(sh_asm_bytes(&a), 100 + 60 + 100); /* spares not counted */
    /* the last piece dropped: no memory is held any more */
    sh_asm_drop(&a, 50);
    sh_asm_drop(&a, 51);
    assert_int_equal(a.nspare, SH_ASM_SPARE);
    sh_asm_drop(&a, 1);
    assert_int_equal(a.n, 0);
    assert_int_equal(a.nspare, 0);
    assert_int_equal(a.spare_bytes, 0);
    sh_asm_free(&a);
}

/* A spare never makes the pool exceed its byte bound. */
static void test_assembly_spare_bytes(void **st)
{
    (void)st;
    sh_assembly a;
    sh_asm_init(&a);
    assert_non_null(sh_asm_get(&a, 0, 16));
    uint32_t big = SH_ASM_SPARE_BYTES / 2 + 1;
    assert_non_null(sh_asm_get(&a, 1, big));
    assert_non_null(sh_asm_get(&a, 2, big));
    sh_asm_drop(&a, 1);
    sh_asm_drop(&a, 2);
    assert_int_equal(a.nspare, 1);
    assert_int_equal(a.spare_bytes, big);
    sh_asm_free(&a);
    assert_int_equal(a.nspare, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_and_blocks),
        cmocka_unit_test(test_many_items),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_assembly),
        cmocka_unit_test(test_assembly_spares),
        cmocka_unit_test(test_assembly_spare_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
