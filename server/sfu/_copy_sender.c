/*
 * server.sfu._copy_sender: the per-copy half of RTP forwarding, in C.
 *
 * Forwarding sends every received packet once per subscriber leg. In Python
 * each copy cost more in interpreter overhead (building the header, copying
 * into and out of pylibsrtp's buffer, the socket wrapper's argument parsing)
 * than in the work itself, and copies are most of what the server does. Here
 * one call per copy writes the packet, keeps it for NACKs, protects it with
 * the subscriber connection's SRTP session and sends it.
 *
 * This file knows nothing of aiortc. server/sfu/aiortc_internals.py hands it
 * plain values for a DatagramRoute, one per subscribe connection and shared
 * by its slots' CopySenders: the selected pair's UDP socket (duplicated), the
 * remote address, libsrtp's srtp_protect (through pylibsrtp's cffi binding)
 * and the session's srtp_t, and the asyncio transport's sendto and queue for
 * the rare datagram the socket would not take at once.
 *
 * Packet layout (RFC 3550 section 5.1, RFC 8285 one-byte extensions): a
 * 12-byte fixed header with X=1, one extension block carrying the slot's mid,
 * abs-send-time, ssrc-audio-level and transport-wide sequence number when
 * negotiated, then the payload and any padding.
 *
 * Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01): a TransportSequence, one per subscribe connection and
 * shared by its slots, numbers every copy the connection sends and logs when
 * it went and how large it was, so that the subscriber's feedback (which
 * names packets by that number and says when each arrived) can be matched
 * with the send side.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr). */
typedef int (*srtp_protect_function)(void *context, void *packet, int *length);

#define HISTORY_SIZE 128           /* aiortc's RTP_HISTORY_SIZE: NACKs reach this far back */
#define MAX_PLAINTEXT 2048         /* far above any RTP packet a WebRTC peer sends */
#define SRTP_TRAILER_ROOM 256      /* above libsrtp's SRTP_MAX_TRAILER_LEN (144) */
#define MAX_MID_ELEMENT 17         /* a one-byte element: 1 header byte, at most 16 value bytes */
/* The largest RTP packet the server sends, before SRTP: pylibsrtp's 1500-byte
 * buffer less its 144-byte trailer room, so aiortc's own send path (TURN)
 * takes every size this one does. With SRTP's tag (16 bytes at most) a
 * datagram's UDP payload stays within 1372 bytes: 1400 on the wire over
 * IPv4, 1420 over IPv6, room to spare for TURN framing in a 1500-byte MTU. */
#define MAX_RTP_PACKET 1356
/* The largest copy: room left for the 2 bytes RTX adds when it is resent. */
#define MAX_COPY (MAX_RTP_PACKET - 2)
#define VERSION_2_WITH_EXTENSION 0x90
#define PADDING_BIT 0x20

static PyObject *SrtpError;   /* srtp_protect failed: args (status,) */
static PyObject *OversizeCopy; /* a copy would exceed MAX_COPY: args (size,) */

/* ------------------------------------------------------------------------ */
/* PacketCopies: what every copy of one received packet shares.             */

typedef struct {
    PyObject_HEAD
    PyObject *payload;       /* bytes: the payload, with padding appended when there is any */
    Py_ssize_t payload_size; /* payload octets without padding, as sender reports count them */
    uint8_t first_byte;
    uint8_t marker;
    uint8_t abs_send_time[3];
    uint8_t has_audio_level;
    uint8_t audio_level; /* V bit and level, as the extension carries them */
    /* The VP8 payload descriptor (RFC 7741 section 4.2), parsed once per packet
     * when asked (vp8=True), so that each slot can write its own picture id,
     * TL0PICIDX and KEYIDX into its copy: the offsets are into the payload, 0
     * when the field is absent (offset 0 is the descriptor's first byte, never
     * one of these fields). */
    uint8_t picture_id_offset;
    uint8_t picture_id_bits; /* 7 or 15; 0 without a picture id */
    uint8_t tl0picidx_offset;
    uint8_t tidkey_offset; /* the TID/Y/KEYIDX byte */
    uint8_t has_keyidx;
    uint8_t frame_start;   /* S=1 and PID=0: the first packet of a frame */
    uint8_t keyframe;      /* ... whose VP8 payload header says keyframe (P=0) */
    int picture_id;        /* -1: absent */
    int tl0picidx;         /* -1: absent */
    int tid;               /* -1: absent */
    int layer_sync;        /* the Y bit; 0 when absent */
    int keyidx;            /* -1: absent */
    int width, height;     /* from a keyframe's VP8 header; 0 otherwise */
} PacketCopies;

/* Parses the VP8 payload descriptor of payload[0:size] into copies (RFC 7741
 * sections 4.2 and 4.3; a keyframe's size from RFC 6386 section 9.1). A
 * payload too short for what its bits announce is left as "no fields". */
static void
parse_vp8(PacketCopies *copies, const uint8_t *payload, Py_ssize_t size)
{
    copies->picture_id = copies->tl0picidx = copies->tid = copies->keyidx = -1;
    copies->layer_sync = 0;
    if (size < 1)
        return;
    uint8_t first = payload[0];
    Py_ssize_t index = 1;
    uint8_t picture_id_offset = 0, picture_id_bits = 0, tl0_offset = 0, tidkey_offset = 0;
    int has_t = 0, has_k = 0;
    if (first & 0x80) { /* X */
        if (size < 2)
            return;
        uint8_t extended = payload[1];
        index = 2;
        if (extended & 0x80) { /* I */
            if (size <= index)
                return;
            picture_id_offset = (uint8_t)index;
            picture_id_bits = (payload[index] & 0x80) ? 15 : 7;
            index += picture_id_bits == 15 ? 2 : 1;
        }
        if (extended & 0x40) { /* L */
            tl0_offset = (uint8_t)index;
            index += 1;
        }
        has_t = (extended & 0x20) != 0;
        has_k = (extended & 0x10) != 0;
        if (has_t || has_k) {
            tidkey_offset = (uint8_t)index;
            index += 1;
        }
    }
    if (size <= index)
        return; /* no room for what the bits announce (or no VP8 payload): no fields */
    copies->picture_id_offset = picture_id_offset;
    copies->picture_id_bits = picture_id_bits;
    copies->tl0picidx_offset = tl0_offset;
    copies->tidkey_offset = has_k ? tidkey_offset : 0;
    copies->has_keyidx = (uint8_t)has_k;
    if (picture_id_bits == 15)
        copies->picture_id = ((payload[picture_id_offset] & 0x7F) << 8) | payload[picture_id_offset + 1];
    else if (picture_id_bits == 7)
        copies->picture_id = payload[picture_id_offset] & 0x7F;
    if (tl0_offset)
        copies->tl0picidx = payload[tl0_offset];
    if (has_t) {
        copies->tid = payload[tidkey_offset] >> 6;
        copies->layer_sync = (payload[tidkey_offset] >> 5) & 1;
    }
    if (has_k)
        copies->keyidx = payload[tidkey_offset] & 0x1F;
    copies->frame_start = (first & 0x10) && !(first & 0x07);
    copies->keyframe = copies->frame_start && !(payload[index] & 0x01);
    if (copies->keyframe && size >= index + 10 && payload[index + 3] == 0x9D &&
        payload[index + 4] == 0x01 && payload[index + 5] == 0x2A) {
        copies->width = (payload[index + 6] | (payload[index + 7] << 8)) & 0x3FFF;
        copies->height = (payload[index + 8] | (payload[index + 9] << 8)) & 0x3FFF;
    }
}

static int
PacketCopies_init(PacketCopies *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"marker", "payload", "padding_size", "abs_send_time", "audio_level",
                               "vp8", NULL};
    int marker;
    Py_buffer payload;
    int padding_size;
    unsigned long long abs_send_time;
    PyObject *audio_level;
    int vp8 = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "py*iKO|$p", keywords, &marker, &payload,
                                     &padding_size, &abs_send_time, &audio_level, &vp8))
        return -1;
    if (padding_size < 0 || padding_size > 255) {
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_ValueError, "padding_size must be 0-255");
        return -1;
    }
    if (payload.len + padding_size > MAX_PLAINTEXT - 64) {
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_ValueError, "payload is too long");
        return -1;
    }
    int has_audio_level = 0;
    uint8_t audio_level_byte = 0;
    if (audio_level != Py_None) {
        int voice, level;
        if (!PyTuple_Check(audio_level)) {
            PyBuffer_Release(&payload);
            PyErr_SetString(PyExc_TypeError, "audio_level must be (voice, level) or None");
            return -1;
        }
        if (!PyArg_ParseTuple(audio_level, "pi;audio_level must be (voice, level) or None", &voice,
                              &level)) {
            PyBuffer_Release(&payload);
            return -1;
        }
        if (level < 0 || level > 127) {
            PyBuffer_Release(&payload);
            PyErr_SetString(PyExc_ValueError, "audio level must be 0-127");
            return -1;
        }
        has_audio_level = 1;
        audio_level_byte = (uint8_t)((voice ? 0x80 : 0) | level);
    }
    PyObject *stored;
    if (padding_size == 0 && PyBytes_CheckExact(payload.obj)) {
        stored = Py_NewRef(payload.obj);
    } else {
        /* RFC 3550: padding octets, the last of which counts them. */
        stored = PyBytes_FromStringAndSize(NULL, payload.len + padding_size);
        if (stored == NULL) {
            PyBuffer_Release(&payload);
            return -1;
        }
        char *out = PyBytes_AS_STRING(stored);
        memcpy(out, payload.buf, payload.len);
        if (padding_size) {
            memset(out + payload.len, 0, padding_size - 1);
            out[payload.len + padding_size - 1] = (char)padding_size;
        }
    }
    Py_XSETREF(self->payload, stored);
    self->payload_size = payload.len;
    /* A second __init__ parses afresh. */
    self->picture_id_offset = self->picture_id_bits = self->tl0picidx_offset = 0;
    self->tidkey_offset = self->has_keyidx = self->frame_start = self->keyframe = 0;
    self->picture_id = self->tl0picidx = self->tid = self->keyidx = -1;
    self->layer_sync = self->width = self->height = 0;
    if (vp8)
        parse_vp8(self, payload.buf, payload.len);
    PyBuffer_Release(&payload);
    self->first_byte = VERSION_2_WITH_EXTENSION | (padding_size ? PADDING_BIT : 0);
    self->marker = marker ? 0x80 : 0;
    self->abs_send_time[0] = (uint8_t)(abs_send_time >> 16);
    self->abs_send_time[1] = (uint8_t)(abs_send_time >> 8);
    self->abs_send_time[2] = (uint8_t)abs_send_time;
    self->has_audio_level = (uint8_t)has_audio_level;
    self->audio_level = audio_level_byte;
    return 0;
}

static void
PacketCopies_dealloc(PacketCopies *self)
{
    Py_XDECREF(self->payload);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef PacketCopies_members[] = {
    {"payload", T_OBJECT, offsetof(PacketCopies, payload), READONLY,
     "The payload with any padding, shared by every copy."},
    {"payload_size", T_PYSSIZET, offsetof(PacketCopies, payload_size), READONLY,
     "Payload octets without padding (what sender reports count)."},
    {"picture_id", T_INT, offsetof(PacketCopies, picture_id), READONLY,
     "VP8 picture id (-1: absent, or not parsed as VP8)."},
    {"tl0picidx", T_INT, offsetof(PacketCopies, tl0picidx), READONLY, "VP8 TL0PICIDX (-1: absent)."},
    {"tid", T_INT, offsetof(PacketCopies, tid), READONLY, "VP8 temporal layer id (-1: absent)."},
    {"layer_sync", T_INT, offsetof(PacketCopies, layer_sync), READONLY, "VP8 Y bit."},
    {"keyidx", T_INT, offsetof(PacketCopies, keyidx), READONLY, "VP8 KEYIDX (-1: absent)."},
    {"frame_start", T_BOOL, offsetof(PacketCopies, frame_start), READONLY,
     "The first packet of a VP8 frame (S=1, PID=0)."},
    {"keyframe", T_BOOL, offsetof(PacketCopies, keyframe), READONLY,
     "The first packet of a VP8 keyframe."},
    {"width", T_INT, offsetof(PacketCopies, width), READONLY, "A keyframe's width (0: not known)."},
    {"height", T_INT, offsetof(PacketCopies, height), READONLY,
     "A keyframe's height (0: not known)."},
    {NULL},
};

static PyTypeObject PacketCopiesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "server.sfu._copy_sender.PacketCopies",
    .tp_doc = PyDoc_STR("What every forwarded copy of one received RTP packet shares."),
    .tp_basicsize = sizeof(PacketCopies),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)PacketCopies_init,
    .tp_dealloc = (destructor)PacketCopies_dealloc,
    .tp_members = PacketCopies_members,
};

/* ------------------------------------------------------------------------ */
/* Converters for PyArg_Parse*: integers that must fit, never truncated.    */

static int
convert_uint32(PyObject *object, void *out)
{
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred())
        return 0;
    if (value > 0xFFFFFFFFULL) {
        PyErr_SetString(PyExc_OverflowError, "value does not fit 32 bits");
        return 0;
    }
    *(uint32_t *)out = (uint32_t)value;
    return 1;
}

static int
convert_pointer(PyObject *object, void *out)
{
    if (!PyLong_Check(object)) {
        PyErr_SetString(PyExc_TypeError, "an address must be an int");
        return 0;
    }
    void *pointer = PyLong_AsVoidPtr(object);
    if (pointer == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "an address must not be 0");
        return 0;
    }
    *(void **)out = pointer;
    return 1;
}

/* A 16-bit sequence number from a Python int: 0 with *out set, or -1 with
 * ValueError (out of range) or what int conversion raised. */
static int
sequence_number_of(PyObject *arg, long *out)
{
    long value = PyLong_AsLong(arg);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value < 0 || value > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "sequence number out of range");
        return -1;
    }
    *out = value;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* TransportSequence: a subscribe connection's transport-wide numbering and  */
/* its send log, shared by its slots.                                         */

/* Feedback names a packet within a second or so of its sending; at a
 * subscriber's highest rates (15 cameras and their audio, about 2,000
 * packets a second) this keeps two seconds. A power of two. */
#define SENT_LOG_SIZE 4096

typedef struct {
    int64_t sent_us; /* CLOCK_MONOTONIC, microseconds; 0: no packet logged here */
    uint16_t sequence_number;
    uint16_t size; /* the RTP packet's size before SRTP */
    uint8_t video;
} SentPacket;

typedef struct {
    PyObject_HEAD
    uint16_t next;
    unsigned long long numbered;
    SentPacket log[SENT_LOG_SIZE];
} TransportSequence;

static int64_t
monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Takes the next number for a packet about to be written. */
static uint16_t
take_number(TransportSequence *self)
{
    uint16_t number = self->next;
    self->next = (uint16_t)(number + 1);
    self->numbered += 1;
    return number;
}

/* Logs the packet numbered sequence_number as sent at sent_us. The clock is
 * read before the send: a process preempted between the send and the reading
 * would log a packet later than it went, and it would seem to arrive before
 * it was sent (which would corrupt the path's least delay for a while). */
static void
log_sent(TransportSequence *self, uint16_t sequence_number, int64_t sent_us, Py_ssize_t size,
         int video)
{
    SentPacket *entry = &self->log[sequence_number % SENT_LOG_SIZE];
    entry->sent_us = sent_us;
    entry->sequence_number = sequence_number;
    entry->size = (uint16_t)(size > 0xFFFF ? 0xFFFF : size);
    entry->video = (uint8_t)(video != 0);
}

static PyObject *
TransportSequence_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "TransportSequence() takes no arguments");
        return NULL;
    }
    /* tp_alloc zeroes the log: no entry is taken for a packet until one is logged. */
    return type->tp_alloc(type, 0);
}

/* sent(sequence_number) -> (sent_at_us, size, video) | None */
static PyObject *
TransportSequence_sent(TransportSequence *self, PyObject *arg)
{
    long sequence_number;
    if (sequence_number_of(arg, &sequence_number) < 0)
        return NULL;
    const SentPacket *entry = &self->log[sequence_number % SENT_LOG_SIZE];
    if (entry->sent_us == 0 || entry->sequence_number != sequence_number)
        Py_RETURN_NONE; /* never sent, or overwritten by a later packet */
    return Py_BuildValue("(LiO)", (long long)entry->sent_us, (int)entry->size,
                         entry->video ? Py_True : Py_False);
}

static PyObject *
TransportSequence_now_us(PyObject *Py_UNUSED(cls), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLongLong((long long)monotonic_us());
}

static PyMethodDef TransportSequence_methods[] = {
    {"sent", (PyCFunction)TransportSequence_sent, METH_O,
     "sent(sequence_number) -> (sent_at_us, size, video) | None: when the packet with that "
     "transport-wide number went (CLOCK_MONOTONIC, microseconds), its RTP size and whether it "
     "was video; None once the log has moved on (or it was never sent)."},
    {"now_us", (PyCFunction)TransportSequence_now_us, METH_NOARGS | METH_STATIC,
     "now_us() -> int: the clock sent_at_us is read from."},
    {NULL},
};

static PyMemberDef TransportSequence_members[] = {
    {"numbered", T_ULONGLONG, offsetof(TransportSequence, numbered), READONLY,
     "Packets numbered so far."},
    {NULL},
};

static PyTypeObject TransportSequenceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "server.sfu._copy_sender.TransportSequence",
    .tp_doc = PyDoc_STR("A subscribe connection's transport-wide sequence numbers and the log "
                        "of what it sent, shared by its slots' CopySenders."),
    .tp_basicsize = sizeof(TransportSequence),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = TransportSequence_new,
    .tp_methods = TransportSequence_methods,
    .tp_members = TransportSequence_members,
};

/* ------------------------------------------------------------------------ */
/* DatagramRoute: where a subscribe connection's copies go, shared by its     */
/* slots (one descriptor per connection, not per forwarded track).          */

typedef struct {
    PyObject_HEAD
    int fd; /* a duplicate of the selected pair's socket; -1 once closed */
    struct sockaddr_storage address;
    socklen_t address_size;
    void *srtp_context;
    srtp_protect_function protect;
    PyObject *srtp_owner;       /* keeps the srtp_t alive (pylibsrtp frees it when collected) */
    PyObject *fallback_sendto;  /* the asyncio transport's sendto */
    PyObject *fallback_address; /* (host, port) for it */
    PyObject *queue;            /* the transport's queue: while it holds datagrams, they go first */
} DatagramRoute;

static PyObject *
DatagramRoute_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    DatagramRoute *self = (DatagramRoute *)type->tp_alloc(type, 0);
    if (self != NULL)
        self->fd = -1;
    return (PyObject *)self;
}

static void
close_route(DatagramRoute *self)
{
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
}

static int
DatagramRoute_init(DatagramRoute *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd",         "host",           "port",  "srtp_context",
                               "srtp_protect", "srtp_owner", "fallback_sendto", "queue", NULL};
    int fd, port;
    const char *host;
    void *context, *protect;
    PyObject *owner, *fallback_sendto, *queue;
    if (self->srtp_owner != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a DatagramRoute is set up once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$isiO&O&OOO", keywords, &fd, &host, &port,
                                     convert_pointer, &context, convert_pointer, &protect, &owner,
                                     &fallback_sendto, &queue))
        return -1;
    if (!PyCallable_Check(fallback_sendto) || port <= 0 || port > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "a route needs a callable fallback and a port 1-65535");
        return -1;
    }
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    int error = getaddrinfo(host, service, &hints, &found);
    if (error != 0 || found == NULL || found->ai_addrlen > sizeof self->address) {
        if (found != NULL)
            freeaddrinfo(found);
        PyErr_Format(PyExc_ValueError, "not a numeric address: %s", host);
        return -1;
    }
    PyObject *address = Py_BuildValue("(si)", host, port);
    if (address == NULL) {
        freeaddrinfo(found);
        return -1;
    }
    /* A descriptor of its own: if asyncio closes the socket first, this one
     * still names it rather than whatever reuses the number. Not inherited
     * by child processes, as Python's own sockets are not (PEP 446). */
    int own_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own_fd < 0) {
        freeaddrinfo(found);
        Py_DECREF(address);
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    memcpy(&self->address, found->ai_addr, found->ai_addrlen);
    self->address_size = found->ai_addrlen;
    freeaddrinfo(found);
    self->fd = own_fd;
    self->srtp_context = context;
    self->protect = (srtp_protect_function)protect;
    self->srtp_owner = Py_NewRef(owner);
    self->fallback_sendto = Py_NewRef(fallback_sendto);
    self->fallback_address = address;
    self->queue = Py_NewRef(queue);
    return 0;
}

static int
DatagramRoute_traverse(DatagramRoute *self, visitproc visit, void *arg)
{
    Py_VISIT(self->srtp_owner);
    Py_VISIT(self->fallback_sendto);
    Py_VISIT(self->fallback_address);
    Py_VISIT(self->queue);
    return 0;
}

static int
DatagramRoute_clear(DatagramRoute *self)
{
    close_route(self);
    Py_CLEAR(self->srtp_owner);
    Py_CLEAR(self->fallback_sendto);
    Py_CLEAR(self->fallback_address);
    Py_CLEAR(self->queue);
    return 0;
}

static void
DatagramRoute_dealloc(DatagramRoute *self)
{
    PyObject_GC_UnTrack(self);
    DatagramRoute_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
DatagramRoute_close(DatagramRoute *self, PyObject *Py_UNUSED(ignored))
{
    close_route(self);
    Py_RETURN_NONE;
}

static PyObject *
DatagramRoute_get_open(DatagramRoute *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->fd >= 0);
}

/* Protects data[0:size] in place (room for the trailer follows) and sends it.
 * Holds its own reference to the route: the queue's length and the fallback
 * are Python code, which may close the route or detach it from its sender. */
static int
protect_and_send(DatagramRoute *route, uint8_t *data, Py_ssize_t size)
{
    if (route->fd < 0) {
        PyErr_SetString(PyExc_ConnectionError, "the route is closed");
        return -1;
    }
    int length = (int)size;
    int status = route->protect(route->srtp_context, data, &length);
    if (status != 0) {
        PyObject *code = PyLong_FromLong(status);
        if (code != NULL) {
            PyErr_SetObject(SrtpError, code);
            Py_DECREF(code);
        }
        return -1;
    }
    Py_INCREF(route);
    int result = -1;
    Py_ssize_t queued = PyObject_Length(route->queue);
    if (queued < 0)
        goto done;
    if (queued == 0 && route->fd >= 0) {
        ssize_t sent = sendto(route->fd, data, (size_t)length, MSG_DONTWAIT,
                              (struct sockaddr *)&route->address, route->address_size);
        if (sent == length) {
            result = 0;
            goto done;
        }
    }
    /* Queued datagrams go first, and a socket that would block (or failed) is
     * the transport's to handle: it queues the datagram or tells its protocol. */
    PyObject *protected = PyBytes_FromStringAndSize((const char *)data, length);
    if (protected == NULL)
        goto done;
    PyObject *returned = PyObject_CallFunctionObjArgs(route->fallback_sendto, protected,
                                                      route->fallback_address, NULL);
    Py_DECREF(protected);
    if (returned == NULL)
        goto done;
    Py_DECREF(returned);
    result = 0;
done:
    Py_DECREF(route);
    return result;
}

static PyMethodDef DatagramRoute_methods[] = {
    {"close", (PyCFunction)DatagramRoute_close, METH_NOARGS,
     "close(): let go of the duplicate socket now; sends through the route fail from then on."},
    {NULL},
};

static PyGetSetDef DatagramRoute_getset[] = {
    {"open", (getter)DatagramRoute_get_open, NULL, "Whether the route can still send.", NULL},
    {NULL},
};

static PyTypeObject DatagramRouteType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "server.sfu._copy_sender.DatagramRoute",
    .tp_doc = PyDoc_STR("Where a subscribe connection's copies go: its selected pair's socket "
                        "and address, and its SRTP session."),
    .tp_basicsize = sizeof(DatagramRoute),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = DatagramRoute_new,
    .tp_init = (initproc)DatagramRoute_init,
    .tp_dealloc = (destructor)DatagramRoute_dealloc,
    .tp_traverse = (traverseproc)DatagramRoute_traverse,
    .tp_clear = (inquiry)DatagramRoute_clear,
    .tp_methods = DatagramRoute_methods,
    .tp_getset = DatagramRoute_getset,
};

/* ------------------------------------------------------------------------ */
/* CopySender: one slot's outgoing line.                                      */

typedef struct {
    PyObject_HEAD
    /* How this slot writes a copy. */
    uint32_t ssrc;
    uint8_t payload_type;
    uint8_t mid_element[MAX_MID_ELEMENT];
    uint8_t mid_element_size;
    uint8_t abs_send_time_id; /* 0: not negotiated */
    uint8_t audio_level_id;   /* 0: not negotiated */
    uint8_t transport_cc_id;  /* 0: not negotiated (or no TransportSequence given) */
    uint8_t video;            /* what the send log says of this slot's packets */
    TransportSequence *transport; /* NULL: none */
    /* Copies kept for NACKs, by sequence number modulo HISTORY_SIZE. */
    PyObject *history[HISTORY_SIZE];
    /* Copies sent (or handed to aiortc's path), as sender reports count them. */
    unsigned long long packets;
    unsigned long long payload_octets;
    unsigned long long bytes_sent;
    DatagramRoute *route; /* NULL: none attached */
    /* The VP8 descriptor line of this slot: what is added to each copy's picture
     * id, TL0PICIDX and KEYIDX (modulo their widths), so that the subscriber
     * sees one stream across layer switches and publishers; and the last
     * values written (-1: none yet), from which continue_vp8 sets the deltas. */
    uint16_t picture_id_delta;
    uint8_t tl0picidx_delta;
    uint8_t keyidx_delta;
    int last_picture_id;
    int last_tl0picidx;
    int last_keyidx;
} CopySender;

static int
CopySender_traverse(CopySender *self, visitproc visit, void *arg)
{
    Py_VISIT(self->route);
    Py_VISIT(self->transport);
    return 0;
}

static int
CopySender_clear(CopySender *self)
{
    Py_CLEAR(self->route);
    Py_CLEAR(self->transport);
    self->transport_cc_id = 0;
    for (int i = 0; i < HISTORY_SIZE; i++)
        Py_CLEAR(self->history[i]);
    return 0;
}

static int
CopySender_init(CopySender *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"ssrc", "payload_type", "mid_element", "abs_send_time_id",
                               "audio_level_id", NULL};
    uint32_t ssrc;
    int payload_type, abs_send_time_id, audio_level_id;
    Py_buffer mid_element;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$O&iy*ii", keywords, convert_uint32, &ssrc,
                                     &payload_type, &mid_element, &abs_send_time_id,
                                     &audio_level_id))
        return -1;
    const uint8_t *mid = mid_element.buf;
    /* Empty, or one one-byte element (RFC 8285): ID 1-14, then length-1 and that many bytes. */
    int mid_valid = mid_element.len == 0 ||
                    (mid_element.len >= 2 && mid_element.len <= MAX_MID_ELEMENT &&
                     (mid[0] >> 4) >= 1 && (mid[0] >> 4) <= 14 &&
                     (mid[0] & 0x0F) + 2 == mid_element.len);
    int valid = mid_valid && payload_type >= 0 && payload_type <= 127 && abs_send_time_id >= 0 &&
                abs_send_time_id <= 14 && audio_level_id >= 0 && audio_level_id <= 14;
    if (!valid) {
        PyBuffer_Release(&mid_element);
        PyErr_SetString(PyExc_ValueError,
                        "payload_type must be 0-127, extension ids 0-14 and the mid element "
                        "empty or one RFC 8285 one-byte element");
        return -1;
    }
    /* A second __init__ starts the line afresh. */
    CopySender_clear(self);
    self->packets = self->payload_octets = self->bytes_sent = 0;
    self->picture_id_delta = 0;
    self->tl0picidx_delta = self->keyidx_delta = 0;
    self->last_picture_id = self->last_tl0picidx = self->last_keyidx = -1;
    self->ssrc = ssrc;
    self->payload_type = (uint8_t)payload_type;
    memcpy(self->mid_element, mid_element.buf, mid_element.len);
    self->mid_element_size = (uint8_t)mid_element.len;
    PyBuffer_Release(&mid_element);
    self->abs_send_time_id = (uint8_t)abs_send_time_id;
    self->audio_level_id = (uint8_t)audio_level_id;
    return 0;
}

static void
CopySender_dealloc(CopySender *self)
{
    PyObject_GC_UnTrack(self);
    CopySender_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The largest header (fixed part and extension block) this sender writes. */
static Py_ssize_t
header_size(const CopySender *self)
{
    Py_ssize_t elements = self->mid_element_size + (self->abs_send_time_id ? 4 : 0) +
                          (self->audio_level_id ? 2 : 0) + (self->transport_cc_id ? 3 : 0);
    return 12 + 4 + (elements + 3) / 4 * 4;
}

/* 0 if every copy of copies fits MAX_COPY; otherwise -1 with OversizeCopy set. */
static int
check_copy_size(const CopySender *self, PacketCopies *copies)
{
    Py_ssize_t size = header_size(self) + PyBytes_GET_SIZE(copies->payload);
    if (size <= MAX_COPY)
        return 0;
    PyObject *args = Py_BuildValue("(n)", size);
    if (args != NULL) {
        PyErr_SetObject(OversizeCopy, args);
        Py_DECREF(args);
    }
    return -1;
}

/* Writes one copy into out (at least MAX_PLAINTEXT bytes); returns its size.
 * picture_id_adjust is added to the line's picture-id delta for this copy only:
 * a late packet (a retransmission filling a gap) placed before pictures a leg
 * has since dropped takes the id it would have had, and the line's last id,
 * from which continue_vp8 goes on, stays the newest one written. */
static Py_ssize_t
write_copy(CopySender *self, PacketCopies *copies, uint16_t sequence_number, uint32_t timestamp,
           uint16_t picture_id_adjust, int transport_number, uint8_t *out)
{
    out[0] = copies->first_byte;
    out[1] = copies->marker | self->payload_type;
    out[2] = (uint8_t)(sequence_number >> 8);
    out[3] = (uint8_t)sequence_number;
    out[4] = (uint8_t)(timestamp >> 24);
    out[5] = (uint8_t)(timestamp >> 16);
    out[6] = (uint8_t)(timestamp >> 8);
    out[7] = (uint8_t)timestamp;
    out[8] = (uint8_t)(self->ssrc >> 24);
    out[9] = (uint8_t)(self->ssrc >> 16);
    out[10] = (uint8_t)(self->ssrc >> 8);
    out[11] = (uint8_t)self->ssrc;
    uint8_t *block = out + 12;
    block[0] = 0xBE; /* the one-byte-header profile */
    block[1] = 0xDE;
    uint8_t *element = block + 4;
    memcpy(element, self->mid_element, self->mid_element_size);
    element += self->mid_element_size;
    if (self->abs_send_time_id) {
        *element++ = (uint8_t)((self->abs_send_time_id << 4) | 2);
        memcpy(element, copies->abs_send_time, 3);
        element += 3;
    }
    if (self->audio_level_id && copies->has_audio_level) {
        *element++ = (uint8_t)(self->audio_level_id << 4);
        *element++ = copies->audio_level;
    }
    if (transport_number >= 0) {
        *element++ = (uint8_t)((self->transport_cc_id << 4) | 1);
        *element++ = (uint8_t)(transport_number >> 8);
        *element++ = (uint8_t)transport_number;
    }
    while ((element - (block + 4)) % 4)
        *element++ = 0;
    Py_ssize_t words = (element - (block + 4)) / 4;
    block[2] = (uint8_t)(words >> 8);
    block[3] = (uint8_t)words;
    Py_ssize_t payload_size = PyBytes_GET_SIZE(copies->payload);
    memcpy(element, PyBytes_AS_STRING(copies->payload), payload_size);
    /* This slot's VP8 descriptor values (the offsets were checked against the
     * payload's size when it was parsed). */
    if (copies->picture_id >= 0) {
        uint8_t *field = element + copies->picture_id_offset;
        int value = copies->picture_id + self->picture_id_delta + picture_id_adjust;
        if (copies->picture_id_bits == 15) {
            value &= 0x7FFF;
            field[0] = (uint8_t)(0x80 | (value >> 8));
            field[1] = (uint8_t)value;
        } else {
            value &= 0x7F;
            field[0] = (uint8_t)value;
        }
        if (picture_id_adjust == 0)
            self->last_picture_id = value;
    }
    if (copies->tl0picidx >= 0) {
        uint8_t value = (uint8_t)(copies->tl0picidx + self->tl0picidx_delta);
        element[copies->tl0picidx_offset] = value;
        self->last_tl0picidx = value;
    }
    if (copies->keyidx >= 0) {
        uint8_t *field = element + copies->tidkey_offset;
        uint8_t value = (uint8_t)((copies->keyidx + self->keyidx_delta) & 0x1F);
        *field = (uint8_t)((*field & 0xE0) | value);
        self->last_keyidx = value;
    }
    return (element - out) + payload_size;
}

/* Keeps a copy for NACKs; a new reference to the kept bytes, NULL on error. */
static PyObject *
keep(CopySender *self, uint16_t sequence_number, const uint8_t *data, Py_ssize_t size)
{
    PyObject *kept = PyBytes_FromStringAndSize((const char *)data, size);
    if (kept == NULL)
        return NULL;
    Py_XSETREF(self->history[sequence_number % HISTORY_SIZE], Py_NewRef(kept));
    return kept;
}

static void
count(CopySender *self, PacketCopies *copies, Py_ssize_t size)
{
    self->packets += 1;
    self->payload_octets += copies->payload_size;
    self->bytes_sent += size;
}

static int
parse_copy_arguments(PyObject *const *args, Py_ssize_t nargs, PacketCopies **copies,
                     uint16_t *sequence_number, uint32_t *timestamp, uint16_t *picture_id_adjust)
{
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "expected (copies, sequence_number, timestamp[, picture_id_adjust])");
        return -1;
    }
    if (!PyObject_TypeCheck(args[0], &PacketCopiesType) ||
        ((PacketCopies *)args[0])->payload == NULL) {
        PyErr_SetString(PyExc_TypeError, "copies must be an initialised PacketCopies");
        return -1;
    }
    uint32_t seq, ts;
    if (!convert_uint32(args[1], &seq) || !convert_uint32(args[2], &ts))
        return -1;
    if (seq > 0xFFFF) {
        PyErr_SetString(PyExc_OverflowError, "sequence number does not fit 16 bits");
        return -1;
    }
    uint32_t adjust = 0;
    if (nargs == 4) {
        if (!convert_uint32(args[3], &adjust))
            return -1;
        if (adjust > 0x7FFF) {
            PyErr_SetString(PyExc_OverflowError, "picture_id_adjust does not fit 15 bits");
            return -1;
        }
    }
    *copies = (PacketCopies *)args[0];
    *picture_id_adjust = (uint16_t)adjust;
    *sequence_number = (uint16_t)seq;
    *timestamp = ts;
    return 0;
}

static PyObject *
CopySender_write(CopySender *self, PyObject *const *args, Py_ssize_t nargs)
{
    PacketCopies *copies;
    uint16_t sequence_number;
    uint32_t timestamp;
    uint16_t picture_id_adjust;
    if (parse_copy_arguments(args, nargs, &copies, &sequence_number, &timestamp,
                             &picture_id_adjust) < 0)
        return NULL;
    if (check_copy_size(self, copies) < 0)
        return NULL;
    _Alignas(16) uint8_t buffer[MAX_PLAINTEXT];
    int number = self->transport_cc_id ? take_number(self->transport) : -1;
    Py_ssize_t size = write_copy(self, copies, sequence_number, timestamp, picture_id_adjust,
                                   number, buffer);
    PyObject *kept = keep(self, sequence_number, buffer, size);
    if (kept != NULL) {
        count(self, copies, size); /* the caller hands it to aiortc's path */
        if (number >= 0)
            log_sent(self->transport, (uint16_t)number, monotonic_us(), size, self->video);
    }
    return kept;
}

static PyObject *
CopySender_send(CopySender *self, PyObject *const *args, Py_ssize_t nargs)
{
    PacketCopies *copies;
    uint16_t sequence_number;
    uint32_t timestamp;
    uint16_t picture_id_adjust;
    if (parse_copy_arguments(args, nargs, &copies, &sequence_number, &timestamp,
                             &picture_id_adjust) < 0)
        return NULL;
    if (self->route == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no route attached");
        return NULL;
    }
    if (check_copy_size(self, copies) < 0)
        return NULL;
    /* libsrtp wants the packet 32-bit aligned. */
    _Alignas(16) uint8_t buffer[MAX_PLAINTEXT + SRTP_TRAILER_ROOM];
    int number = self->transport_cc_id ? take_number(self->transport) : -1;
    Py_ssize_t size = write_copy(self, copies, sequence_number, timestamp, picture_id_adjust,
                                   number, buffer);
    PyObject *kept = keep(self, sequence_number, buffer, size);
    if (kept == NULL)
        return NULL;
    Py_DECREF(kept);
    int64_t sent_us = number >= 0 ? monotonic_us() : 0;
    if (protect_and_send(self->route, buffer, size) < 0)
        return NULL; /* kept for a NACK, but not counted (nor logged): it did not go */
    count(self, copies, size);
    if (number >= 0)
        log_sent(self->transport, (uint16_t)number, sent_us, size, self->video);
    return PyLong_FromSsize_t(size);
}

static PyObject *
CopySender_send_packet(CopySender *self, PyObject *arg)
{
    if (self->route == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no route attached");
        return NULL;
    }
    Py_buffer packet;
    if (PyObject_GetBuffer(arg, &packet, PyBUF_SIMPLE) < 0)
        return NULL;
    if (packet.len > MAX_RTP_PACKET) {
        PyBuffer_Release(&packet);
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    _Alignas(16) uint8_t buffer[MAX_PLAINTEXT + SRTP_TRAILER_ROOM];
    memcpy(buffer, packet.buf, packet.len);
    Py_ssize_t size = packet.len;
    PyBuffer_Release(&packet);
    if (protect_and_send(self->route, buffer, size) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
CopySender_kept(CopySender *self, PyObject *arg)
{
    long sequence_number;
    if (sequence_number_of(arg, &sequence_number) < 0)
        return NULL;
    PyObject *data = self->history[sequence_number % HISTORY_SIZE];
    if (data == NULL)
        Py_RETURN_NONE;
    const uint8_t *bytes = (const uint8_t *)PyBytes_AS_STRING(data);
    if (((bytes[2] << 8) | bytes[3]) != sequence_number)
        Py_RETURN_NONE; /* overwritten by a later copy */
    return Py_NewRef(data);
}

static PyObject *
CopySender_continue_vp8(CopySender *self, PyObject *arg)
{
    if (!PyObject_TypeCheck(arg, &PacketCopiesType) || ((PacketCopies *)arg)->payload == NULL) {
        PyErr_SetString(PyExc_TypeError, "copies must be an initialised PacketCopies");
        return NULL;
    }
    PacketCopies *copies = (PacketCopies *)arg;
    /* The next copy's values follow the last ones written: a new picture, a new
     * TL0 picture (a run starts on a keyframe, which is in temporal layer 0) and
     * a new keyframe index. */
    if (copies->picture_id >= 0 && self->last_picture_id >= 0)
        self->picture_id_delta =
            (uint16_t)((self->last_picture_id + 1 - copies->picture_id) & 0x7FFF);
    if (copies->tl0picidx >= 0 && self->last_tl0picidx >= 0)
        self->tl0picidx_delta = (uint8_t)(self->last_tl0picidx + 1 - copies->tl0picidx);
    if (copies->keyidx >= 0 && self->last_keyidx >= 0)
        self->keyidx_delta = (uint8_t)((self->last_keyidx + 1 - copies->keyidx) & 0x1F);
    Py_RETURN_NONE;
}

static PyObject *
CopySender_skip_picture(CopySender *self, PyObject *Py_UNUSED(ignored))
{
    /* A picture was not forwarded (a temporal layer dropped): the next one takes its id. */
    self->picture_id_delta = (uint16_t)((self->picture_id_delta - 1) & 0x7FFF);
    Py_RETURN_NONE;
}

static PyObject *
CopySender_attach(CopySender *self, PyObject *route)
{
    if (!PyObject_TypeCheck(route, &DatagramRouteType)) {
        PyErr_SetString(PyExc_TypeError, "route must be a DatagramRoute");
        return NULL;
    }
    if (((DatagramRoute *)route)->srtp_owner == NULL) {
        PyErr_SetString(PyExc_ValueError, "the route was never set up");
        return NULL;
    }
    Py_XSETREF(self->route, (DatagramRoute *)Py_NewRef(route));
    Py_RETURN_NONE;
}

static PyObject *
CopySender_detach(CopySender *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->route);
    Py_RETURN_NONE;
}

static PyObject *
CopySender_use_transport_sequence(CopySender *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"sequence", "extension_id", "video", NULL};
    PyObject *sequence;
    int extension_id, video;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!ip", keywords, &TransportSequenceType,
                                     &sequence, &extension_id, &video))
        return NULL;
    if (extension_id < 1 || extension_id > 14) {
        PyErr_SetString(PyExc_ValueError, "a one-byte extension id is 1-14");
        return NULL;
    }
    Py_XSETREF(self->transport, (TransportSequence *)Py_NewRef(sequence));
    self->transport_cc_id = (uint8_t)extension_id;
    self->video = (uint8_t)video;
    Py_RETURN_NONE;
}

static PyObject *
CopySender_get_route(CopySender *self, void *Py_UNUSED(closure))
{
    if (self->route == NULL)
        Py_RETURN_NONE;
    return Py_NewRef((PyObject *)self->route);
}

static PyMethodDef CopySender_methods[] = {
    {"write", (PyCFunction)(void (*)(void))CopySender_write, METH_FASTCALL,
     "write(copies, sequence_number, timestamp[, picture_id_adjust]) -> bytes: this slot's "
     "copy, kept and counted. picture_id_adjust (0-0x7FFF) is added to the VP8 picture id of "
     "this copy only (a late packet placed before dropped pictures); such a copy does not "
     "move last_picture_id."},
    {"send", (PyCFunction)(void (*)(void))CopySender_send, METH_FASTCALL,
     "send(copies, sequence_number, timestamp[, picture_id_adjust]) -> int: write, keep, "
     "protect and send a copy through the attached route; its size."},
    {"send_packet", (PyCFunction)CopySender_send_packet, METH_O,
     "send_packet(data) -> None: protect and send an already written packet (retransmissions)."},
    {"kept", (PyCFunction)CopySender_kept, METH_O,
     "kept(sequence_number) -> bytes | None: the copy sent with that number, if still kept."},
    {"attach", (PyCFunction)CopySender_attach, METH_O,
     "attach(route): send through this DatagramRoute from now on."},
    {"detach", (PyCFunction)CopySender_detach, METH_NOARGS, "detach(): forget the route."},
    {"continue_vp8", (PyCFunction)CopySender_continue_vp8, METH_O,
     "continue_vp8(copies): the VP8 picture id, TL0PICIDX and KEYIDX of this copy and the "
     "next ones continue the line's last ones (a new run: a layer switch, a new publisher)."},
    {"skip_picture", (PyCFunction)CopySender_skip_picture, METH_NOARGS,
     "skip_picture(): a picture was dropped (temporal layer); the next one takes its id."},
    {"use_transport_sequence", (PyCFunction)(void (*)(void))CopySender_use_transport_sequence,
     METH_VARARGS | METH_KEYWORDS,
     "use_transport_sequence(sequence, extension_id, video): number every copy from now on with "
     "the connection's TransportSequence, in the negotiated extension, and log it there."},
    {NULL},
};

static PyMemberDef CopySender_members[] = {
    {"packets", T_ULONGLONG, offsetof(CopySender, packets), READONLY, "Copies sent."},
    {"payload_octets", T_ULONGLONG, offsetof(CopySender, payload_octets), READONLY,
     "Payload octets sent, without padding (sender reports)."},
    {"bytes_sent", T_ULONGLONG, offsetof(CopySender, bytes_sent), READONLY,
     "Bytes sent, headers included, before SRTP."},
    {"last_picture_id", T_INT, offsetof(CopySender, last_picture_id), READONLY,
     "The last VP8 picture id written (-1: none)."},
    {"last_tl0picidx", T_INT, offsetof(CopySender, last_tl0picidx), READONLY,
     "The last VP8 TL0PICIDX written (-1: none)."},
    {"last_keyidx", T_INT, offsetof(CopySender, last_keyidx), READONLY,
     "The last VP8 KEYIDX written (-1: none)."},
    {NULL},
};

static PyObject *
CopySender_get_header_size(CopySender *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(header_size(self));
}

static PyGetSetDef CopySender_getset[] = {
    {"route", (getter)CopySender_get_route, NULL, "The attached DatagramRoute, or None.", NULL},
    {"header_size", (getter)CopySender_get_header_size, NULL,
     "The largest header this sender writes (fixed part and extension block).", NULL},
    {NULL},
};

static PyTypeObject CopySenderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "server.sfu._copy_sender.CopySender",
    .tp_doc = PyDoc_STR("One subscriber slot's outgoing RTP line."),
    .tp_basicsize = sizeof(CopySender),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)CopySender_init,
    .tp_dealloc = (destructor)CopySender_dealloc,
    .tp_traverse = (traverseproc)CopySender_traverse,
    .tp_clear = (inquiry)CopySender_clear,
    .tp_methods = CopySender_methods,
    .tp_members = CopySender_members,
    .tp_getset = CopySender_getset,
};

static struct PyModuleDef copy_sender_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "server.sfu._copy_sender",
    .m_doc = PyDoc_STR("The per-copy half of RTP forwarding: write, keep, protect, send."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__copy_sender(void)
{
    if (PyType_Ready(&PacketCopiesType) < 0 || PyType_Ready(&DatagramRouteType) < 0 ||
        PyType_Ready(&CopySenderType) < 0 || PyType_Ready(&TransportSequenceType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&copy_sender_module);
    if (module == NULL)
        return NULL;
    SrtpError = PyErr_NewExceptionWithDoc("server.sfu._copy_sender.SrtpError",
                                          "srtp_protect failed; args: (libsrtp status,)",
                                          PyExc_RuntimeError, NULL);
    OversizeCopy = PyErr_NewExceptionWithDoc(
        "server.sfu._copy_sender.OversizeCopy",
        "a copy would exceed MAX_COPY once rewritten; args: (its size,)", PyExc_ValueError, NULL);
    if (SrtpError == NULL || PyModule_AddObjectRef(module, "SrtpError", SrtpError) < 0 ||
        OversizeCopy == NULL || PyModule_AddObjectRef(module, "OversizeCopy", OversizeCopy) < 0 ||
        PyModule_AddObjectRef(module, "PacketCopies", (PyObject *)&PacketCopiesType) < 0 ||
        PyModule_AddObjectRef(module, "DatagramRoute", (PyObject *)&DatagramRouteType) < 0 ||
        PyModule_AddObjectRef(module, "CopySender", (PyObject *)&CopySenderType) < 0 ||
        PyModule_AddObjectRef(module, "TransportSequence", (PyObject *)&TransportSequenceType) <
            0 ||
        PyModule_AddIntConstant(module, "HISTORY_SIZE", HISTORY_SIZE) < 0 ||
        PyModule_AddIntConstant(module, "MAX_PLAINTEXT", MAX_PLAINTEXT) < 0 ||
        PyModule_AddIntConstant(module, "MAX_RTP_PACKET", MAX_RTP_PACKET) < 0 ||
        PyModule_AddIntConstant(module, "MAX_COPY", MAX_COPY) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
