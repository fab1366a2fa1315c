/* test_sha.c — SHA-1 / SHA-256 against the FIPS 180 example vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/sha.h>
#include <shoal/types.h>

static const char MSG448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

struct vec {
    const char *msg; /* NULL: one million 'a' */
    const char *sha1;
    const char *sha256;
};

static const struct vec VECS[] = {
    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {MSG448, "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {NULL, "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void assert_hex(const uint8_t *d, size_t n, const char *hex)
{
    char buf[65];
    assert_string_equal(sh_hex(d, n, buf), hex);
}

static void test_oneshot(void **st)
{
    (void)st;
    uint8_t d[32];
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(VECS[i].msg);
        sh_sha1(VECS[i].msg, n, d);
        assert_hex(d, 20, VECS[i].sha1);
        sh_sha256(VECS[i].msg, n, d);
        assert_hex(d, 32, VECS[i].sha256);
    }
    /* (NULL, 0) is the empty message. */
    sh_sha1(NULL, 0, d);
    assert_hex(d, 20, VECS[0].sha1);
    sh_sha256(NULL, 0, d);
    assert_hex(d, 32, VECS[0].sha256);

    char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    sh_sha1(m, 1000000, d);
    assert_hex(d, 20, VECS[3].sha1);
    sh_sha256(m, 1000000, d);
    assert_hex(d, 32, VECS[3].sha256);
    free(m);
}

/* Feeds one million 'a' in chunks of odd, varying sizes. */
static void feed_million(sh_sha *c)
{
    static const size_t sizes[] = {1, 7, 63, 64, 65, 127, 4093, 3, 9973};
    char a[9973];
    memset(a, 'a', sizeof a);
    size_t left = 1000000, k = 0;
    while (left > 0) {
        size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];
        if (n > left) n = left;
        sh_sha_update(c, a, n);
        left -= n;
    }
}

static void run_incremental(sh_sha *c, int is256)
{
    uint8_t d[32];
    size_t dl = is256 ? 32 : 20;
    /* Twice: final must reset the context for reuse. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 4; i++) {
            if (VECS[i].msg == NULL) {
                feed_million(c);
            } else {
                size_t n = strlen(VECS[i].msg);
                for (size_t j = 0; j < n; j++)
                    sh_sha_update(c, VECS[i].msg + j, 1);
                sh_sha_update(c, "", 0); /* empty updates change nothing */
            }
            sh_sha_final(c, d);
            assert_hex(d, dl, is256 ? VECS[i].sha256 : VECS[i].sha1);
        }
    }
}

static void test_incremental(void **st)
{
    (void)st;
    sh_sha *c1 = sh_sha1_new(), *c2 = sh_sha256_new();
    assert_non_null(c1);
    assert_non_null(c2);
    run_incremental(c1, 0);
    run_incremental(c2, 1);
    sh_sha_free(c1);
    sh_sha_free(c2);
    sh_sha_free(NULL);
}

static void test_pair(void **st)
{
    (void)st;
    uint8_t a[32] = {0}, b[32] = {0}, d[32], cat[64], ref[32];
    sh_sha256_pair(a, b, d);
    assert_hex(d, 32, "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
    for (int i = 0; i < 32; i++) {
        a[i] = (uint8_t)i;
        b[i] = (uint8_t)(0xff - 3 * i);
    }
    memcpy(cat, a, 32);
    memcpy(cat + 32, b, 32);
    sh_sha256(cat, 64, ref);
    sh_sha256_pair(a, b, d);
    assert_memory_equal(d, ref, 32);
    /* Order matters. */
    sh_sha256_pair(b, a, d);
    assert_memory_not_equal(d, ref, 32);
    /* The output may alias an input. */
    memcpy(d, a, 32);
    sh_sha256_pair(d, b, d);
    assert_memory_equal(d, ref, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oneshot),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
