/* govnet's inner loops in C.
 *
 * Optional: each caller runs the same steps in Python when this module was not built (no
 * compiler or no OpenSSL headers where govnet was installed), and the tests run both and
 * compare.
 *
 * For `govnet audit verify` (services/audit/verify.py), each function does one step of
 * `_scan` over a range's buffer, where every entry is preceded by its leaf prefix 0x00:
 *
 *   split_lines(buffer)             newlines become 0x00; their positions, after a 0
 *   leaves(buffer, firsts, lasts)   SHA-256 of buffer[firsts[k]:lasts[k]], joined
 *   group_roots(leaves, block)      the subtree root of each complete group of `block`
 *   fields(buffer, firsts, lasts)   each entry's source, sequence and whether it is an
 *                                   `event.rejected`, or None when one is not plain
 *
 * For the audit log's appends (services/audit/merkle.py) and the canonical form of events
 * (services/contract/envelope.py):
 *
 *   leaf_hashes(datas)              SHA-256(0x00 || data) of each
 *   needs_exact(value, out)         whether orjson's sorted output `out` of `value` is not
 *                                   yet RFC 8785: a float anywhere in `value`, or an
 *                                   astral-plane character in `out`
 *
 * SHA-256 is OpenSSL's, the implementation Python's hashlib uses here, so a leaf costs
 * the same as `hashlib.sha256(...).digest()` without the objects around it.
 */
#define _GNU_SOURCE /* memrchr */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "services/_speedups.c needs OpenSSL 3 (EVP_MD_fetch); govnet runs without it in Python"
#endif

#define DIGEST 32

typedef struct {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
} Hasher;

/* OpenSSL 3 looks the algorithm up again at each EVP_DigestInit_ex given EVP_sha256():
 * fetched once, it is not (a lookup costs more than hashing a short entry). */
static int hasher_open(Hasher *h) {
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = h->md ? EVP_MD_CTX_new() : NULL;
    if (h->ctx == NULL) {
        EVP_MD_free((EVP_MD *)h->md);
        ERR_clear_error();
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL has no SHA-256");
        return -1;
    }
    return 0;
}

static void hasher_close(Hasher *h) {
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free((EVP_MD *)h->md);
}

/* SHA-256 of a || b || c into out; 0 on success. Touches no Python object: callable
 * without the GIL (the caller raises on failure). */
static int hash3(Hasher *h, const void *a, size_t na, const void *b, size_t nb, const void *c,
                 size_t nc, unsigned char *out) {
    return EVP_DigestInit_ex(h->ctx, h->md, NULL) && EVP_DigestUpdate(h->ctx, a, na) &&
                   (!nb || EVP_DigestUpdate(h->ctx, b, nb)) &&
                   (!nc || EVP_DigestUpdate(h->ctx, c, nc)) &&
                   EVP_DigestFinal_ex(h->ctx, out, NULL)
               ? 0
               : -1;
}

/* Each of `firsts` and `lasts` as C offsets, checked against the buffer. */
static Py_ssize_t *offsets(PyObject *list, const char *name, Py_ssize_t limit) {
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list", name);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    Py_ssize_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_ssize_t));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t v = PyLong_AsSsize_t(PyList_GET_ITEM(list, k));
        if (v == -1 && PyErr_Occurred()) {
            PyMem_Free(out);
            return NULL;
        }
        if (v < 0 || v > limit) {
            PyMem_Free(out);
            PyErr_Format(PyExc_ValueError, "%s[%zd] is outside the buffer", name, k);
            return NULL;
        }
        out[k] = v;
    }
    return out;
}

typedef struct {
    Py_buffer view;
    Py_ssize_t n;
    Py_ssize_t *firsts;
    Py_ssize_t *lasts;
} Entries;

static int entries_open(Entries *e, PyObject *args, int writable) {
    PyObject *firsts, *lasts;
    memset(e, 0, sizeof(*e));
    if (!PyArg_ParseTuple(args, writable ? "w*OO" : "y*OO", &e->view, &firsts, &lasts))
        return -1;
    e->firsts = offsets(firsts, "firsts", e->view.len);
    e->lasts = e->firsts ? offsets(lasts, "lasts", e->view.len) : NULL;
    if (e->lasts == NULL)
        goto fail;
    e->n = PyList_GET_SIZE(firsts);
    if (PyList_GET_SIZE(lasts) != e->n) {
        PyErr_SetString(PyExc_ValueError, "firsts and lasts differ in length");
        goto fail;
    }
    for (Py_ssize_t k = 0; k < e->n; k++) {
        if (e->lasts[k] < e->firsts[k]) {
            PyErr_Format(PyExc_ValueError, "entry %zd ends before it starts", k);
            goto fail;
        }
    }
    return 0;
fail:
    PyMem_Free(e->firsts);
    PyMem_Free(e->lasts);
    PyBuffer_Release(&e->view);
    return -1;
}

static void entries_close(Entries *e) {
    PyMem_Free(e->firsts);
    PyMem_Free(e->lasts);
    PyBuffer_Release(&e->view);
}

/* Python ints for the positions, in a new list. */
static PyObject *int_list(const Py_ssize_t *values, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    for (Py_ssize_t k = 0; out != NULL && k < n; k++) {
        PyObject *value = PyLong_FromSsize_t(values[k]);
        if (value == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, k, value);
    }
    return out;
}

static PyObject *split_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "w*", &view))
        return NULL;
    char *base = view.buf, *end = base + view.len;
    Py_ssize_t n = 1, size = 1 + view.len / 256;
    Py_ssize_t *bounds = PyMem_RawMalloc((size_t)size * sizeof(Py_ssize_t));
    int failed = bounds == NULL;
    Py_BEGIN_ALLOW_THREADS
    char *at = view.len > 1 ? base + 1 : end;
    if (!failed)
        bounds[0] = 0;
    while (!failed && at < end && (at = memchr(at, '\n', (size_t)(end - at))) != NULL) {
        if (n == size) {
            Py_ssize_t *grown = PyMem_RawRealloc(bounds, (size_t)(size *= 2) * sizeof(*bounds));
            if (grown == NULL) {
                failed = 1;
                break;
            }
            bounds = grown;
        }
        *at = 0;
        bounds[n++] = at - base;
        at++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *out = failed ? PyErr_NoMemory() : int_list(bounds, n);
    PyMem_RawFree(bounds);
    return out;
}

static PyObject *leaves(PyObject *self, PyObject *args) {
    Entries e;
    Hasher h;
    if (entries_open(&e, args, 0) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, e.n * DIGEST);
    if (out == NULL || hasher_open(&h) < 0) {
        Py_XDECREF(out);
        entries_close(&e);
        return NULL;
    }
    unsigned char *digest = (unsigned char *)PyBytes_AS_STRING(out);
    const char *base = e.view.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < e.n && !failed; k++) {
        failed = hash3(&h, base + e.firsts[k], (size_t)(e.lasts[k] - e.firsts[k]), NULL, 0,
                       NULL, 0, digest + k * DIGEST);
    }
    Py_END_ALLOW_THREADS
    hasher_close(&h);
    entries_close(&e);
    if (failed) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
        return NULL;
    }
    return out;
}

static PyObject *group_roots(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t block;
    Hasher h;
    if (!PyArg_ParseTuple(args, "y*n", &view, &block))
        return NULL;
    if (block < 1 || (block & (block - 1)) || view.len % DIGEST) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "block must be a power of two and leaves whole digests");
        return NULL;
    }
    Py_ssize_t groups = view.len / DIGEST / block;
    unsigned char *level = PyMem_Malloc((size_t)block * DIGEST);
    unsigned char *roots = PyMem_Malloc((size_t)(groups ? groups : 1) * DIGEST);
    if (level == NULL || roots == NULL || hasher_open(&h) < 0) {
        if (level == NULL || roots == NULL)
            PyErr_NoMemory();
        PyMem_Free(level);
        PyMem_Free(roots);
        PyBuffer_Release(&view);
        return NULL;
    }
    static const unsigned char interior = 1;
    const unsigned char *leaf = view.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t g = 0; g < groups && !failed; g++) {
        memcpy(level, leaf + g * block * DIGEST, (size_t)block * DIGEST);
        for (Py_ssize_t width = block; width > 1 && !failed; width /= 2) {
            for (Py_ssize_t i = 0; i < width / 2 && !failed; i++)
                failed = hash3(&h, &interior, 1, level + 2 * i * DIGEST, DIGEST,
                               level + (2 * i + 1) * DIGEST, DIGEST, level + i * DIGEST);
        }
        memcpy(roots + g * DIGEST, level, DIGEST);
    }
    Py_END_ALLOW_THREADS
    hasher_close(&h);
    PyMem_Free(level);
    PyBuffer_Release(&view);
    PyObject *out = failed ? NULL : PyList_New(groups);
    if (failed)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
    for (Py_ssize_t g = 0; out != NULL && g < groups; g++) {
        PyObject *root = PyBytes_FromStringAndSize((const char *)roots + g * DIGEST, DIGEST);
        if (root == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, g, root);
    }
    PyMem_Free(roots);
    return out;
}

/* The last occurrence of `needle` in [from, to), or NULL. The search steps back to each
 * occurrence of needle[anchor], a byte chosen to be rare in JSON. */
static const char *last(const char *from, const char *to, const char *needle, size_t n,
                        size_t anchor) {
    if (to - from < (Py_ssize_t)n)
        return NULL;
    const char *end = to - n + anchor + 1; /* the anchor of a match lies before it */
    const char *lowest = from + anchor;
    while (end > lowest) {
#ifdef __GLIBC__
        const char *at = memrchr(lowest, needle[anchor], (size_t)(end - lowest));
        if (at == NULL)
            return NULL;
#else
        const char *at = end - 1;
        while (at >= lowest && *at != needle[anchor])
            at--;
        if (at < lowest)
            return NULL;
#endif
        if (memcmp(at - anchor, needle, n) == 0)
            return at - anchor;
        end = at;
    }
    return NULL;
}

static const char SEQUENCE[] = ",\"sequence\":";
static const char SOURCE[] = ",\"source\":\"";
static const char REJECTED[] = ",\"type\":\"event.rejected\"";

/* Mirrors the fast path of `verify._sequences`; None sends the block to its slow path,
 * which names the entries it cannot read. A sequence is taken here only when it is plain
 * digits (at most 18), where Python's int() agrees; anything else goes the slow way. */
static PyObject *fields(PyObject *self, PyObject *args) {
    Entries e;
    if (entries_open(&e, args, 0) < 0)
        return NULL;
    const size_t nseq = sizeof(SEQUENCE) - 1, nsrc = sizeof(SOURCE) - 1,
                 nrej = sizeof(REJECTED) - 1;
    const char *base = e.view.buf;
    Py_ssize_t *stops = PyMem_Malloc((size_t)(e.n ? e.n : 1) * sizeof(Py_ssize_t));
    long long *numbers = PyMem_Malloc((size_t)(e.n ? e.n : 1) * sizeof(long long));
    PyObject *sources = NULL, *sequences = NULL, *refusals = NULL, *result = NULL;
    if (stops == NULL || numbers == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int adjacent = 1, plain = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < e.n && plain; k++) {
        const char *first = base + e.firsts[k], *end = base + e.lasts[k];
        const char *at = last(first, end, SEQUENCE, nseq, 4);
        const char *stop = at ? memchr(at + nseq, ',', (size_t)(end - at - nseq)) : NULL;
        if (stop == NULL || stop == at + nseq || stop - at - nseq > 18) {
            plain = 0;
            break;
        }
        long long number = 0;
        for (const char *d = at + nseq; d < stop && plain; d++) {
            plain = *d >= '0' && *d <= '9';
            number = number * 10 + (*d - '0');
        }
        numbers[k] = number;
        stops[k] = stop - base;
        if ((size_t)(end - stop) < nsrc || memcmp(stop, SOURCE, nsrc) != 0)
            adjacent = 0;
    }
    Py_END_ALLOW_THREADS
    if (!plain)
        goto plain_not;
    sources = PyList_New(e.n);
    sequences = sources ? PyList_New(e.n) : NULL;
    refusals = sequences ? PyList_New(0) : NULL;
    if (refusals == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < e.n; k++) {
        const char *first = base + e.firsts[k], *end = base + e.lasts[k];
        const char *begin = adjacent ? base + stops[k] : last(first, end, SOURCE, nsrc, 4);
        if (begin == NULL)
            goto plain_not;
        begin += nsrc;
        const char *quote = memchr(begin, '"', (size_t)(end - begin));
        if (quote == NULL)
            goto plain_not;
        PyObject *source = PyBytes_FromStringAndSize(begin, quote - begin);
        PyObject *sequence = source ? PyLong_FromLongLong(numbers[k]) : NULL;
        if (sequence == NULL) {
            Py_XDECREF(source);
            goto done;
        }
        PyList_SET_ITEM(sources, k, source);
        PyList_SET_ITEM(sequences, k, sequence);
        /* The envelope's `type` sorts after its `source`: look for refusals there only. */
        for (const char *at = quote; end - at >= (Py_ssize_t)nrej; at++) {
            at = memchr(at, ',', (size_t)(end - at));
            if (at == NULL || end - at < (Py_ssize_t)nrej)
                break;
            if (memcmp(at, REJECTED, nrej) == 0) {
                PyObject *index = PyLong_FromSsize_t(k);
                if (index == NULL || PyList_Append(refusals, index) < 0) {
                    Py_XDECREF(index);
                    goto done;
                }
                Py_DECREF(index);
                break;
            }
        }
    }
    result = PyTuple_Pack(3, sources, sequences, refusals);
    goto done;
plain_not:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(sources);
    Py_XDECREF(sequences);
    Py_XDECREF(refusals);
    PyMem_Free(stops);
    PyMem_Free(numbers);
    entries_close(&e);
    return result;
}

static PyObject *leaf_hashes(PyObject *self, PyObject *datas) {
    static const unsigned char prefix = 0;
    Hasher h;
    PyObject *items = PySequence_Fast(datas, "datas must be a sequence of bytes");
    if (items == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    PyObject *out = PyList_New(n);
    if (out == NULL || hasher_open(&h) < 0) {
        Py_XDECREF(out);
        Py_DECREF(items);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *data = PySequence_Fast_GET_ITEM(items, k);
        if (!PyBytes_Check(data)) {
            PyErr_Format(PyExc_TypeError, "datas[%zd] is %s, not bytes", k, Py_TYPE(data)->tp_name);
            goto fail;
        }
        PyObject *digest = PyBytes_FromStringAndSize(NULL, DIGEST);
        if (digest == NULL)
            goto fail;
        PyList_SET_ITEM(out, k, digest);
        if (hash3(&h, &prefix, 1, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), NULL,
                  0, (unsigned char *)PyBytes_AS_STRING(digest)) < 0) {
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
            goto fail;
        }
    }
    hasher_close(&h);
    Py_DECREF(items);
    return out;
fail:
    hasher_close(&h);
    Py_DECREF(items);
    Py_DECREF(out);
    return NULL;
}

#define MAX_DEPTH 4096 /* orjson refuses more than 254 levels before needs_exact is asked */

/* 1 if a float is anywhere in `value` (dicts, lists and tuples are walked), 0 if not, -1
 * on error (nested deeper than MAX_DEPTH: a value that holds itself). Mirrors
 * envelope._has_float, which is iterative: the depth is counted here, not against the
 * interpreter's recursion limit, so the answer does not depend on the caller's stack. */
static int has_float(PyObject *value, int depth) {
    PyTypeObject *kind = Py_TYPE(value);
    if (kind == &PyFloat_Type)
        return 1;
    if (kind != &PyDict_Type && kind != &PyList_Type && kind != &PyTuple_Type)
        return 0;
    if (depth >= MAX_DEPTH) {
        PyErr_SetString(PyExc_RecursionError, "a value nested too deeply to look for floats");
        return -1;
    }
    int found = 0;
    if (kind == &PyDict_Type) {
        Py_ssize_t position = 0;
        PyObject *key, *item;
        while (!found && PyDict_Next(value, &position, &key, &item))
            found = has_float(item, depth + 1);
    } else {
        PyObject **items = kind == &PyList_Type ? ((PyListObject *)value)->ob_item
                                                : ((PyTupleObject *)value)->ob_item;
        Py_ssize_t n = Py_SIZE(value);
        for (Py_ssize_t k = 0; k < n && !found; k++)
            found = has_float(items[k], depth + 1);
    }
    return found;
}

static PyObject *needs_exact(PyObject *self, PyObject *args) {
    PyObject *value;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "Oy*", &value, &out))
        return NULL;
    const unsigned char *at = out.buf, *end = at + out.len;
    int astral = 0;
    for (; at < end && !astral; at++)
        astral = *at >= 0xF0; /* the lead byte of a 4-byte UTF-8 sequence */
    PyBuffer_Release(&out);
    if (astral)
        Py_RETURN_TRUE;
    int found = has_float(value, 0);
    if (found < 0)
        return NULL;
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"split_lines", split_lines, METH_VARARGS,
     "split_lines(buffer) -> [0, position of each newline], each newline set to 0x00"},
    {"leaves", leaves, METH_VARARGS,
     "leaves(buffer, firsts, lasts) -> the SHA-256 of each buffer[firsts[k]:lasts[k]], joined"},
    {"group_roots", group_roots, METH_VARARGS,
     "group_roots(leaves, block) -> the subtree root of each complete group of block leaves"},
    {"fields", fields, METH_VARARGS,
     "fields(buffer, firsts, lasts) -> (sources, sequences, refusals) or None"},
    {"leaf_hashes", leaf_hashes, METH_O, "leaf_hashes(datas) -> [SHA-256(0x00 || data), ...]"},
    {"needs_exact", needs_exact, METH_VARARGS,
     "needs_exact(value, out) -> whether orjson's output `out` of `value` is not RFC 8785"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "govnet's inner loops in C.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
