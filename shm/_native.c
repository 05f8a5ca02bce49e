/* The one-record hot paths of rings and boards, compiled: the same protocol as the Python
 * closures in shm/_fastpath.py and shm/latest.py, call for call.
 *
 * Each factory returns a bound method of a small object that keeps the same views, lists and
 * callbacks the Python closure would keep. Every call takes its addresses from the live
 * memoryviews it was given (PyMemoryView_GET_BUFFER), after checking they were not released,
 * so a call after the ring was closed raises ValueError as the Python path does and never
 * touches an unmapped page. Stores that publish (cursor, board sequence) are release stores,
 * loads of the other party's cursor acquire loads: on x86-64 (TSO, see shm/platform.py) both
 * are plain moves that the compiler may not reorder around the record copy. One pair needs more:
 * the writer's cursor publish followed by its load of the parked flags, and the reader's
 * parked-flag store followed by its cursor re-check (shm.reader.park), are store -> load of
 * different addresses, which x86 may reorder through the store buffer; without a full fence
 * both sides can miss each other (a lost wake-up). FULL_FENCE closes it on both sides.
 * Cursor comparisons that take a value from shared memory are done in 128 bits: a hostile
 * cursor near INT64_MIN must not overflow (undefined behaviour) and must compare as the
 * Python path's unbounded ints do. Every loop over shared state is bounded (READ_TRIES).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define W_PUBLISHED 0
#define W_CLAIM 1
#define W_PARKED0 8
#define R_CURSOR 0
#define BOARD_FIRST_WORD 16 /* HEADER_BYTES / 8 */
#define BOARD_READ_TRIES 4
#define READ_TRIES 16 /* overwrite read_one: copies retried after a lap before giving up */

#define BARRIER() __asm__ __volatile__("" ::: "memory")
#define FULL_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline int64_t load_acquire(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* The address behind a memoryview, or NULL with ValueError when it was released. */
static inline char *view_addr(PyObject *mv) {
    if (((PyMemoryViewObject *)mv)->flags & _Py_MEMORYVIEW_RELEASED) {
        PyErr_SetString(PyExc_ValueError, "operation forbidden on released memoryview object");
        return NULL;
    }
    return (char *)PyMemoryView_GET_BUFFER(mv)->buf;
}

static int need_view(PyObject *obj, const char *what, Py_ssize_t min_len) {
    if (!PyMemoryView_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a memoryview, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_buffer *b = PyMemoryView_GET_BUFFER(obj);
    if (!PyBuffer_IsContiguous(b, 'C') || b->len < min_len) {
        PyErr_Format(PyExc_ValueError, "%s must be a contiguous view of at least %zd bytes",
                     what, min_len);
        return -1;
    }
    return 0;
}

/* a + b for b >= 0, INT64_MAX when it would overflow (a reader cursor can be hostile). */
static inline int64_t sat_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

/* st is the Python side's one-item list holding the position. */
static inline int st_get(PyObject *st, int64_t *out) {
    PyObject *item = PyList_GET_ITEM(st, 0);
    long long v = PyLong_AsLongLong(item);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)v;
    return 0;
}

static inline int st_set(PyObject *st, int64_t v) {
    PyObject *item = PyLong_FromLongLong(v);
    if (item == NULL)
        return -1;
    PyObject *old = PyList_GET_ITEM(st, 0);
    PyList_SET_ITEM(st, 0, item);
    Py_DECREF(old);
    return 0;
}

static int need_st(PyObject *st) {
    if (!PyList_CheckExact(st) || PyList_GET_SIZE(st) != 1) {
        PyErr_SetString(PyExc_TypeError, "st must be a list of one int");
        return -1;
    }
    return 0;
}

/* ---- the latest-value board ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *region; /* memoryview of the board (header + slots) */
    PyObject *out;    /* memoryview of a bytearray of one record: what get() lends */
    int64_t slots, words, rs, key_off, key_size;
} BoardObject;

static void board_dealloc(BoardObject *self) {
    Py_XDECREF(self->region);
    Py_XDECREF(self->out);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline void board_post(char *base, const BoardObject *b, const char *rec) {
    uint64_t key = 0;
    memcpy(&key, rec + b->key_off, (size_t)b->key_size); /* little-endian */
    if (key >= (uint64_t)b->slots)
        return; /* a symbol id past the board is not kept */
    int64_t *seq = (int64_t *)base + BOARD_FIRST_WORD + (int64_t)key * b->words;
    int64_t s = *seq | 1; /* odd: being written (already odd after a writer died mid-copy) */
    store_release(seq, s);
    BARRIER();
    memcpy((char *)(seq + 1), rec, (size_t)b->rs);
    store_release(seq, s + 1);
}

static PyObject *board_put(BoardObject *self, PyObject *record) {
    char *base = view_addr(self->region);
    if (base == NULL)
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(record, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    if (v.len != self->rs) {
        PyErr_Format(PyExc_ValueError, "a board record is %lld bytes, got %zd",
                     (long long)self->rs, v.len);
        PyBuffer_Release(&v);
        return NULL;
    }
    board_post(base, self, (const char *)v.buf);
    PyBuffer_Release(&v);
    Py_RETURN_NONE;
}

static PyObject *board_get(BoardObject *self, PyObject *arg) {
    long long key = PyLong_AsLongLong(arg);
    if (key == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (key < 0 || key >= self->slots)
        Py_RETURN_NONE;
    char *base = view_addr(self->region);
    if (base == NULL)
        return NULL;
    char *out = view_addr(self->out);
    if (out == NULL)
        return NULL;
    const int64_t *seq = (const int64_t *)base + BOARD_FIRST_WORD + key * self->words;
    for (int i = 0; i < BOARD_READ_TRIES; i++) {
        int64_t s = load_acquire(seq);
        if (s & 1)
            continue;
        if (s == 0)
            Py_RETURN_NONE;
        memcpy(out, (const char *)(seq + 1), (size_t)self->rs);
        BARRIER();
        if (load_acquire(seq) == s) {
            Py_INCREF(self->out);
            return self->out;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef board_methods[] = {
    {"get", (PyCFunction)board_get, METH_O,
     "get(key) -> a copy of symbol key's latest record (valid until the next get), or None"},
    {"put", (PyCFunction)board_put, METH_O, "put(record): make record its symbol's latest"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BoardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shm._native.Board",
    .tp_basicsize = sizeof(BoardObject),
    .tp_dealloc = (destructor)board_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled get/put of a latest-value board (shm.latest.Board uses it).",
    .tp_methods = board_methods,
};

/* board(region, out, slots, words, record_size, key_off, key_size) -> Board */
static PyObject *make_board(PyObject *mod, PyObject *args) {
    PyObject *region, *out;
    long long slots, words, rs, key_off, key_size;
    if (!PyArg_ParseTuple(args, "OOLLLLL", &region, &out, &slots, &words, &rs, &key_off,
                          &key_size))
        return NULL;
    if (slots < 0 || words < 1 || rs < 1 || (words - 1) * 8 < rs || key_off < 0 ||
        (key_size != 2 && key_size != 4 && key_size != 8) || key_off + key_size > rs) {
        PyErr_SetString(PyExc_ValueError, "board geometry out of range");
        return NULL;
    }
    if (need_view(region, "region", (BOARD_FIRST_WORD + slots * words) * 8) < 0 ||
        need_view(out, "out", rs) < 0)
        return NULL;
    BoardObject *self = PyObject_New(BoardObject, &BoardType);
    if (self == NULL)
        return NULL;
    Py_INCREF(region);
    Py_INCREF(out);
    self->region = region;
    self->out = out;
    self->slots = slots;
    self->words = words;
    self->rs = rs;
    self->key_off = key_off;
    self->key_size = key_size;
    return (PyObject *)self;
}

/* ---- one ring party's one-record path --------------------------------------------------- */

enum { BLOCK_WRITER, OVERWRITE_WRITER, BLOCK_READER, OVERWRITE_READER };

typedef struct {
    PyObject_HEAD
    int kind, multi;
    PyObject *w, *r, *st, *body, *views, *one; /* views and r may be None */
    PyObject *refresh, *wake, *resync;          /* Python callables, called off the fast path */
    BoardObject *board;                          /* writers: post each record (or NULL) */
    int64_t rs, mask, cap, limit, end;
} PathObject;

static int path_traverse(PathObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->w);
    Py_VISIT(self->r);
    Py_VISIT(self->st);
    Py_VISIT(self->body);
    Py_VISIT(self->views);
    Py_VISIT(self->one);
    Py_VISIT(self->refresh);
    Py_VISIT(self->wake);
    Py_VISIT(self->resync);
    Py_VISIT((PyObject *)self->board);
    return 0;
}

/* The callbacks are bound methods of the ring party that holds this path: a cycle the
 * collector must be able to break, as it would a closure's. */
static int path_clear(PathObject *self) {
    Py_CLEAR(self->w);
    Py_CLEAR(self->r);
    Py_CLEAR(self->st);
    Py_CLEAR(self->body);
    Py_CLEAR(self->views);
    Py_CLEAR(self->one);
    Py_CLEAR(self->refresh);
    Py_CLEAR(self->wake);
    Py_CLEAR(self->resync);
    Py_CLEAR(self->board);
    return 0;
}

static void path_dealloc(PathObject *self) {
    PyObject_GC_UnTrack(self);
    path_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *cleared(void) {
    PyErr_SetString(PyExc_ValueError, "this ring path was cleared (its ring party is gone)");
    return NULL;
}

static inline char *slot_addr(PathObject *self, int64_t pos) {
    if (self->views != Py_None) /* the Python side's per-record views of the body */
        return view_addr(PyList_GET_ITEM(self->views, pos & self->mask));
    char *body = view_addr(self->body);
    return body == NULL ? NULL : body + (pos & self->mask) * self->rs;
}

static PyObject *call_int(PyObject *fn, PyObject *arg, int64_t *out) {
    PyObject *res = arg == NULL ? PyObject_CallNoArgs(fn) : PyObject_CallOneArg(fn, arg);
    if (res == NULL)
        return NULL;
    long long v = PyLong_AsLongLong(res);
    Py_DECREF(res);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    *out = (int64_t)v;
    return Py_None; /* borrowed: success */
}

static PyObject *path_write_bytes(PathObject *self, PyObject *b) {
    if (self->w == NULL)
        return cleared();
    int64_t *w = (int64_t *)view_addr(self->w);
    if (w == NULL)
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(b, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    if (v.len != self->rs) {
        PyErr_Format(PyExc_ValueError, "a record of this ring is %lld bytes, got %zd",
                     (long long)self->rs, v.len);
        goto fail;
    }
    int64_t pos;
    if (st_get(self->st, &pos) < 0)
        goto fail;
    if (self->kind == BLOCK_WRITER) {
        if (pos >= self->limit) {
            int64_t gate;
            if (call_int(self->refresh, NULL, &gate) == NULL)
                goto fail;
            self->limit = sat_add(gate, self->cap);
            if (pos >= self->limit) {
                PyBuffer_Release(&v);
                Py_RETURN_FALSE;
            }
        }
    } else if ((__int128)w[W_CLAIM] <= (__int128)pos) { /* claim first: a reader copying
                                                              this slot drops it */
        store_release(&w[W_CLAIM], pos + 1);
        BARRIER();
    }
    char *slot = slot_addr(self, pos);
    if (slot == NULL)
        goto fail;
    memcpy(slot, v.buf, (size_t)self->rs);
    pos += 1;
    if (st_set(self->st, pos) < 0)
        goto fail;
    store_release(&w[W_PUBLISHED], pos); /* the publishing store */
    FULL_FENCE(); /* the publish is visible before the parked flags are read (no lost wake-up) */
    if (self->board != NULL) {
        char *base = view_addr(self->board->region);
        if (base == NULL)
            goto fail;
        board_post(base, self->board, (const char *)v.buf);
    }
    PyBuffer_Release(&v);
    if (load_acquire(&w[W_PARKED0]) || self->multi) { /* somebody sleeps on a doorbell */
        PyObject *res = PyObject_CallNoArgs(self->wake);
        if (res == NULL)
            return NULL;
        Py_DECREF(res);
    }
    Py_RETURN_TRUE;
fail:
    PyBuffer_Release(&v);
    return NULL;
}

static PyObject *path_read_one(PathObject *self, PyObject *unused) {
    if (self->w == NULL)
        return cleared();
    int64_t *w = (int64_t *)view_addr(self->w);
    if (w == NULL)
        return NULL;
    int64_t *r = (int64_t *)view_addr(self->r);
    if (r == NULL)
        return NULL;
    int64_t pos;
    if (self->kind == BLOCK_READER) {
        if (st_get(self->st, &pos) < 0)
            return NULL;
        store_release(&r[R_CURSOR], pos); /* release the record lent by the previous call */
        if (pos >= self->end) {
            self->end = load_acquire(&w[W_PUBLISHED]);
            if (pos >= self->end)
                Py_RETURN_NONE;
        }
        if (st_set(self->st, pos + 1) < 0)
            return NULL;
        if (self->views != Py_None) { /* zero-copy: the writer cannot reuse it until released */
            PyObject *view = PyList_GET_ITEM(self->views, pos & self->mask);
            Py_INCREF(view);
            return view;
        }
        Py_ssize_t off = (Py_ssize_t)((pos & self->mask) * self->rs);
        return PySequence_GetSlice(self->body, off, off + (Py_ssize_t)self->rs);
    }
    char *one = view_addr(self->one);
    if (one == NULL)
        return NULL;
    for (int tries = 0; tries < READ_TRIES; tries++) { /* overwrite: copy, keep it only if
                                                         the writer did not lap it meanwhile */
        if (st_get(self->st, &pos) < 0)
            return NULL;
        int64_t end = load_acquire(&w[W_PUBLISHED]);
        if (pos >= end)
            Py_RETURN_NONE;
        char *slot = slot_addr(self, pos);
        if (slot == NULL)
            return NULL;
        memcpy(one, slot, (size_t)self->rs);
        BARRIER();
        if ((__int128)load_acquire(&w[W_CLAIM]) - self->cap <= (__int128)pos) {
            if (st_set(self->st, pos + 1) < 0)
                return NULL;
            store_release(&r[R_CURSOR], pos + 1);
            Py_INCREF(self->one);
            return self->one;
        }
        PyObject *arg = PyLong_FromLongLong(end);
        if (arg == NULL)
            return NULL;
        int64_t ignored;
        PyObject *ok = call_int(self->resync, arg, &ignored);
        Py_DECREF(arg);
        if (ok == NULL)
            return NULL;
    }
    Py_RETURN_NONE; /* lapped on every try: nothing delivered now, the next call resumes */
}

static PyObject *path_available(PathObject *self, PyObject *unused) {
    if (self->w == NULL)
        return cleared();
    int64_t *w = (int64_t *)view_addr(self->w);
    if (w == NULL)
        return NULL;
    int64_t pos;
    if (st_get(self->st, &pos) < 0)
        return NULL;
    __int128 n = (__int128)load_acquire(&w[W_PUBLISHED]) - pos;
    if (self->kind == OVERWRITE_READER && n > self->cap)
        n = self->cap;
    if (n > INT64_MAX || n < INT64_MIN) { /* only a hostile cursor gets here: exact, as Python */
        PyObject *a = PyLong_FromLongLong(load_acquire(&w[W_PUBLISHED]));
        PyObject *b = PyLong_FromLongLong(pos);
        PyObject *res = (a == NULL || b == NULL) ? NULL : PyNumber_Subtract(a, b);
        Py_XDECREF(a);
        Py_XDECREF(b);
        return res;
    }
    return PyLong_FromLongLong((long long)n);
}

static PyMethodDef path_methods[] = {
    {"write_bytes", (PyCFunction)path_write_bytes, METH_O, "write_bytes(b) -> bool"},
    {"read_one", (PyCFunction)path_read_one, METH_NOARGS, "read_one() -> memoryview | None"},
    {"available", (PyCFunction)path_available, METH_NOARGS, "available() -> int"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shm._native.Path",
    .tp_basicsize = sizeof(PathObject),
    .tp_dealloc = (destructor)path_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)path_traverse,
    .tp_clear = (inquiry)path_clear,
    .tp_doc = "One ring party's compiled one-record path (see shm._fastpath).",
    .tp_methods = path_methods,
};

static PathObject *new_path(int kind, PyObject *w, PyObject *r, PyObject *st, PyObject *body,
                            PyObject *views, long long rs, long long mask, long long cap) {
    if (need_view(w, "w", (W_PARKED0 + 1) * 8) < 0 || need_st(st) < 0 ||
        need_view(body, "body", rs * (mask + 1)) < 0)
        return NULL;
    if (r != Py_None && need_view(r, "r", 8) < 0)
        return NULL;
    if (rs < 1 || mask < 0 || ((mask + 1) & mask) != 0 || cap != mask + 1) {
        PyErr_SetString(PyExc_ValueError, "ring geometry out of range");
        return NULL;
    }
    if (views != Py_None) {
        if (!PyList_CheckExact(views) || PyList_GET_SIZE(views) != cap) {
            PyErr_SetString(PyExc_TypeError, "views must be None or a list of one view per slot");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < cap; i++)
            if (need_view(PyList_GET_ITEM(views, i), "views[i]", rs) < 0)
                return NULL;
    }
    PathObject *self = PyObject_GC_New(PathObject, &PathType);
    if (self == NULL)
        return NULL;
    self->kind = kind;
    self->multi = 0;
    Py_INCREF(w);
    Py_INCREF(r);
    Py_INCREF(st);
    Py_INCREF(body);
    Py_INCREF(views);
    self->w = w;
    self->r = r;
    self->st = st;
    self->body = body;
    self->views = views;
    self->one = self->refresh = self->wake = self->resync = NULL;
    self->board = NULL;
    self->rs = rs;
    self->mask = mask;
    self->cap = cap;
    self->limit = self->end = 0;
    PyObject_GC_Track(self);
    return self;
}

static PyObject *bound(PathObject *self, const char *name) {
    if (self == NULL)
        return NULL;
    PyObject *method = PyObject_GetAttrString((PyObject *)self, name);
    Py_DECREF(self);
    return method;
}

static int attach_board(PathObject *self, PyObject *board) {
    if (board == Py_None)
        return 0;
    if (!PyObject_TypeCheck(board, &BoardType)) {
        PyErr_SetString(PyExc_TypeError, "board must be None or a shm._native.Board");
        return -1;
    }
    Py_INCREF(board);
    self->board = (BoardObject *)board;
    return 0;
}

/* block_write_bytes(w, st, body, rs, views, mask, cap, gate, refresh, wake, multi, board) */
static PyObject *block_write_bytes(PyObject *mod, PyObject *args) {
    PyObject *w, *st, *body, *views, *refresh, *wake, *board;
    long long rs, mask, cap, gate;
    int multi;
    if (!PyArg_ParseTuple(args, "OOOLOLLLOOpO", &w, &st, &body, &rs, &views, &mask, &cap, &gate,
                          &refresh, &wake, &multi, &board))
        return NULL;
    PathObject *self = new_path(BLOCK_WRITER, w, Py_None, st, body, views, rs, mask, cap);
    if (self == NULL)
        return NULL;
    Py_INCREF(refresh);
    Py_INCREF(wake);
    self->refresh = refresh;
    self->wake = wake;
    self->multi = multi;
    self->limit = sat_add(gate, cap);
    if (attach_board(self, board) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return bound(self, "write_bytes");
}

/* overwrite_write_bytes(w, st, body, rs, views, mask, wake, multi, board) */
static PyObject *overwrite_write_bytes(PyObject *mod, PyObject *args) {
    PyObject *w, *st, *body, *views, *wake, *board;
    long long rs, mask;
    int multi;
    if (!PyArg_ParseTuple(args, "OOOLOLOpO", &w, &st, &body, &rs, &views, &mask, &wake, &multi,
                          &board))
        return NULL;
    PathObject *self = new_path(OVERWRITE_WRITER, w, Py_None, st, body, views, rs, mask, mask + 1);
    if (self == NULL)
        return NULL;
    Py_INCREF(wake);
    self->wake = wake;
    self->multi = multi;
    if (attach_board(self, board) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return bound(self, "write_bytes");
}

/* block_reader(w, r, st, body, rs, views, mask) -> (read_one, available) */
static PyObject *block_reader(PyObject *mod, PyObject *args) {
    PyObject *w, *r, *st, *body, *views;
    long long rs, mask;
    if (!PyArg_ParseTuple(args, "OOOOLOL", &w, &r, &st, &body, &rs, &views, &mask))
        return NULL;
    if (r == Py_None) {
        PyErr_SetString(PyExc_TypeError, "r must be the reader slot's view");
        return NULL;
    }
    PathObject *self = new_path(BLOCK_READER, w, r, st, body, views, rs, mask, mask + 1);
    if (self == NULL)
        return NULL;
    PyObject *res = Py_BuildValue("(NN)", PyObject_GetAttrString((PyObject *)self, "read_one"),
                                  PyObject_GetAttrString((PyObject *)self, "available"));
    Py_DECREF(self);
    return res;
}

/* overwrite_reader(w, r, st, body, rs, views, mask, cap, one, resync) -> (read_one, available) */
static PyObject *overwrite_reader(PyObject *mod, PyObject *args) {
    PyObject *w, *r, *st, *body, *views, *one, *resync;
    long long rs, mask, cap;
    if (!PyArg_ParseTuple(args, "OOOOLOLLOO", &w, &r, &st, &body, &rs, &views, &mask, &cap, &one,
                          &resync))
        return NULL;
    if (r == Py_None) {
        PyErr_SetString(PyExc_TypeError, "r must be the reader slot's view");
        return NULL;
    }
    if (need_view(one, "one", rs) < 0)
        return NULL;
    PathObject *self = new_path(OVERWRITE_READER, w, r, st, body, views, rs, mask, cap);
    if (self == NULL)
        return NULL;
    Py_INCREF(one);
    Py_INCREF(resync);
    self->one = one;
    self->resync = resync;
    PyObject *res = Py_BuildValue("(NN)", PyObject_GetAttrString((PyObject *)self, "read_one"),
                                  PyObject_GetAttrString((PyObject *)self, "available"));
    Py_DECREF(self);
    return res;
}

/* fence(): a full memory fence, for the Python side of a park (shm.reader.park). */
static PyObject *fence(PyObject *mod, PyObject *unused) {
    FULL_FENCE();
    Py_RETURN_NONE;
}

/* cas(buffer, word, expected, desired) -> bool: compare-and-swap the aligned int64 at index
 * `word` of a writable buffer (a reader or writer slot claiming its pid word). */
static PyObject *cas(PyObject *mod, PyObject *args) {
    Py_buffer view;
    Py_ssize_t word;
    long long expected, desired;
    if (!PyArg_ParseTuple(args, "w*nLL", &view, &word, &expected, &desired))
        return NULL;
    if (word < 0 || (word + 1) * (Py_ssize_t)sizeof(int64_t) > view.len ||
        ((uintptr_t)view.buf % sizeof(int64_t)) != 0) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "cas: word %zd outside an aligned buffer of %zd bytes",
                     word, view.len);
        return NULL;
    }
    int64_t want = (int64_t)expected;
    int swapped = __atomic_compare_exchange_n((int64_t *)view.buf + word, &want,
                                              (int64_t)desired, 0, __ATOMIC_SEQ_CST,
                                              __ATOMIC_SEQ_CST);
    PyBuffer_Release(&view);
    return PyBool_FromLong(swapped);
}

static PyMethodDef module_methods[] = {
    {"fence", fence, METH_NOARGS, "A full memory fence (mfence or a locked RMW)."},
    {"cas", cas, METH_VARARGS, "cas(buffer, word, expected, desired) -> bool (int64 CAS)."},
    {"block_write_bytes", block_write_bytes, METH_VARARGS, "A block ring writer's write_bytes."},
    {"overwrite_write_bytes", overwrite_write_bytes, METH_VARARGS,
     "An overwrite ring writer's write_bytes."},
    {"block_reader", block_reader, METH_VARARGS, "A block ring reader's (read_one, available)."},
    {"overwrite_reader", overwrite_reader, METH_VARARGS,
     "An overwrite ring reader's (read_one, available)."},
    {"board", make_board, METH_VARARGS, "A latest-value board's compiled get/put."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "shm._native",
    "Compiled one-record paths of rings and latest-value boards (see shm._fastpath).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&BoardType) < 0 || PyType_Ready(&PathType) < 0)
        return NULL;
    return PyModule_Create(&native_module);
}
