/* GENERATED from shm/layout.py by engines/_schema.py: do not edit (setup.py regenerates it).
 *
 * Per record R and field F: R_SIZE, R_F_OFF (byte offset), R_F_T (C type, scalar fields),
 * and R_SCHEMA, the table a kernel exports as SCHEMA for the loader to check; the layout's
 * integer constants as macros and as LAYOUT_CONSTANTS (exported as CONSTANTS).
 */
#ifndef NAUTILUSD_SCHEMA_H
#define NAUTILUSD_SCHEMA_H

#include <stdint.h>

typedef struct {
    const char *name;
    long offset, size;
    const char *type; /* numpy type string of the field (of one item for a subarray) */
} schema_field;

typedef struct {
    const char *name;
    long long value;
} schema_const;

/* GETF(TICK, buf, BID): field BID of the TICK at `buf`; PUTF stores one. */
#define GETF(rec, buf, f) (*(const rec##_##f##_T *)((const char *)(buf) + rec##_##f##_OFF))
#define PUTF(rec, buf, f, v) (*(rec##_##f##_T *)((char *)(buf) + rec##_##f##_OFF) = (v))

/* tick: 64 bytes */
#define TICK_SIZE 64
#define TICK_SEQ_OFF 0
#define TICK_SEQ_T uint64_t
#define TICK_TS_NS_OFF 8
#define TICK_TS_NS_T int64_t
#define TICK_SYMBOL_ID_OFF 16
#define TICK_SYMBOL_ID_T uint32_t
#define TICK_FLAGS_OFF 20
#define TICK_FLAGS_T uint32_t
#define TICK_BID_OFF 24
#define TICK_BID_T double
#define TICK_ASK_OFF 32
#define TICK_ASK_T double
#define TICK_BID_SIZE_OFF 40
#define TICK_BID_SIZE_T int64_t
#define TICK_ASK_SIZE_OFF 48
#define TICK_ASK_SIZE_T int64_t
#define TICK_PAD_OFF 56
#define TICK_PAD_T uint64_t
#define TICK_NFIELDS 9
static const schema_field TICK_SCHEMA[TICK_NFIELDS] = {
    {"seq", 0, 8, "<u8"},
    {"ts_ns", 8, 8, "<i8"},
    {"symbol_id", 16, 4, "<u4"},
    {"flags", 20, 4, "<u4"},
    {"bid", 24, 8, "<f8"},
    {"ask", 32, 8, "<f8"},
    {"bid_size", 40, 8, "<i8"},
    {"ask_size", 48, 8, "<i8"},
    {"_pad", 56, 8, "<u8"},
};

/* order: 64 bytes */
#define ORDER_SIZE 64
#define ORDER_ORDER_ID_OFF 0
#define ORDER_ORDER_ID_T uint64_t
#define ORDER_STRATEGY_ID_OFF 8
#define ORDER_STRATEGY_ID_T uint32_t
#define ORDER_SYMBOL_ID_OFF 12
#define ORDER_SYMBOL_ID_T uint32_t
#define ORDER_SIDE_OFF 16
#define ORDER_SIDE_T int8_t
#define ORDER_TYPE_OFF 17
#define ORDER_TYPE_T uint8_t
#define ORDER_TIF_OFF 18
#define ORDER_TIF_T uint8_t
#define ORDER_PAD0_OFF 19
#define ORDER_PAD0_T uint8_t
#define ORDER_TTL_MS_OFF 20
#define ORDER_TTL_MS_T uint32_t
#define ORDER_QTY_OFF 24
#define ORDER_QTY_T int64_t
#define ORDER_PRICE_OFF 32
#define ORDER_PRICE_T double
#define ORDER_TS_NS_OFF 40
#define ORDER_TS_NS_T int64_t
#define ORDER_ORIGIN_SEQ_OFF 48
#define ORDER_ORIGIN_SEQ_T uint64_t
#define ORDER_ORIGIN_TS_NS_OFF 56
#define ORDER_ORIGIN_TS_NS_T int64_t
#define ORDER_NFIELDS 13
static const schema_field ORDER_SCHEMA[ORDER_NFIELDS] = {
    {"order_id", 0, 8, "<u8"},
    {"strategy_id", 8, 4, "<u4"},
    {"symbol_id", 12, 4, "<u4"},
    {"side", 16, 1, "|i1"},
    {"type", 17, 1, "|u1"},
    {"tif", 18, 1, "|u1"},
    {"_pad0", 19, 1, "|u1"},
    {"ttl_ms", 20, 4, "<u4"},
    {"qty", 24, 8, "<i8"},
    {"price", 32, 8, "<f8"},
    {"ts_ns", 40, 8, "<i8"},
    {"origin_seq", 48, 8, "<u8"},
    {"origin_ts_ns", 56, 8, "<i8"},
};

/* decision: 96 bytes */
#define DECISION_SIZE 96
#define DECISION_ORDER_ID_OFF 0
#define DECISION_ORDER_ID_T uint64_t
#define DECISION_STRATEGY_ID_OFF 8
#define DECISION_STRATEGY_ID_T uint32_t
#define DECISION_SYMBOL_ID_OFF 12
#define DECISION_SYMBOL_ID_T uint32_t
#define DECISION_SIDE_OFF 16
#define DECISION_SIDE_T int8_t
#define DECISION_TYPE_OFF 17
#define DECISION_TYPE_T uint8_t
#define DECISION_TIF_OFF 18
#define DECISION_TIF_T uint8_t
#define DECISION_PAD0_OFF 19
#define DECISION_PAD0_T uint8_t
#define DECISION_TTL_MS_OFF 20
#define DECISION_TTL_MS_T uint32_t
#define DECISION_QTY_OFF 24
#define DECISION_QTY_T int64_t
#define DECISION_PRICE_OFF 32
#define DECISION_PRICE_T double
#define DECISION_TS_NS_OFF 40
#define DECISION_TS_NS_T int64_t
#define DECISION_ORIGIN_SEQ_OFF 48
#define DECISION_ORIGIN_SEQ_T uint64_t
#define DECISION_ORIGIN_TS_NS_OFF 56
#define DECISION_ORIGIN_TS_NS_T int64_t
#define DECISION_VERDICT_OFF 64
#define DECISION_VERDICT_T uint8_t
#define DECISION_PAD2_OFF 65
#define DECISION_PAD2_T uint8_t
#define DECISION_REASON_OFF 66
#define DECISION_REASON_T uint16_t
#define DECISION_PAD3_OFF 68
#define DECISION_PAD3_T uint32_t
#define DECISION_DECIDED_TS_NS_OFF 72
#define DECISION_DECIDED_TS_NS_T int64_t
#define DECISION_PAD4_OFF 80
#define DECISION_NFIELDS 19
static const schema_field DECISION_SCHEMA[DECISION_NFIELDS] = {
    {"order_id", 0, 8, "<u8"},
    {"strategy_id", 8, 4, "<u4"},
    {"symbol_id", 12, 4, "<u4"},
    {"side", 16, 1, "|i1"},
    {"type", 17, 1, "|u1"},
    {"tif", 18, 1, "|u1"},
    {"_pad0", 19, 1, "|u1"},
    {"ttl_ms", 20, 4, "<u4"},
    {"qty", 24, 8, "<i8"},
    {"price", 32, 8, "<f8"},
    {"ts_ns", 40, 8, "<i8"},
    {"origin_seq", 48, 8, "<u8"},
    {"origin_ts_ns", 56, 8, "<i8"},
    {"verdict", 64, 1, "|u1"},
    {"_pad2", 65, 1, "|u1"},
    {"reason", 66, 2, "<u2"},
    {"_pad3", 68, 4, "<u4"},
    {"decided_ts_ns", 72, 8, "<i8"},
    {"_pad4", 80, 16, "<u8"},
};

/* fill: 96 bytes */
#define FILL_SIZE 96
#define FILL_ORDER_ID_OFF 0
#define FILL_ORDER_ID_T uint64_t
#define FILL_EXEC_ID_OFF 8
#define FILL_EXEC_ID_T uint64_t
#define FILL_STRATEGY_ID_OFF 16
#define FILL_STRATEGY_ID_T uint32_t
#define FILL_SYMBOL_ID_OFF 20
#define FILL_SYMBOL_ID_T uint32_t
#define FILL_SIDE_OFF 24
#define FILL_SIDE_T int8_t
#define FILL_LIQUIDITY_OFF 25
#define FILL_LIQUIDITY_T uint8_t
#define FILL_STATUS_OFF 26
#define FILL_STATUS_T uint8_t
#define FILL_VENUE_ID_OFF 27
#define FILL_VENUE_ID_T uint8_t
#define FILL_REASON_OFF 28
#define FILL_REASON_T uint16_t
#define FILL_CHILD_OFF 30
#define FILL_CHILD_T uint16_t
#define FILL_QTY_OFF 32
#define FILL_QTY_T int64_t
#define FILL_PRICE_OFF 40
#define FILL_PRICE_T double
#define FILL_LEAVES_QTY_OFF 48
#define FILL_LEAVES_QTY_T int64_t
#define FILL_TS_NS_OFF 56
#define FILL_TS_NS_T int64_t
#define FILL_ORIGIN_SEQ_OFF 64
#define FILL_ORIGIN_SEQ_T uint64_t
#define FILL_ORIGIN_TS_NS_OFF 72
#define FILL_ORIGIN_TS_NS_T int64_t
#define FILL_ORDER_TS_NS_OFF 80
#define FILL_ORDER_TS_NS_T int64_t
#define FILL_DECIDED_TS_NS_OFF 88
#define FILL_DECIDED_TS_NS_T int64_t
#define FILL_NFIELDS 18
static const schema_field FILL_SCHEMA[FILL_NFIELDS] = {
    {"order_id", 0, 8, "<u8"},
    {"exec_id", 8, 8, "<u8"},
    {"strategy_id", 16, 4, "<u4"},
    {"symbol_id", 20, 4, "<u4"},
    {"side", 24, 1, "|i1"},
    {"liquidity", 25, 1, "|u1"},
    {"status", 26, 1, "|u1"},
    {"venue_id", 27, 1, "|u1"},
    {"reason", 28, 2, "<u2"},
    {"child", 30, 2, "<u2"},
    {"qty", 32, 8, "<i8"},
    {"price", 40, 8, "<f8"},
    {"leaves_qty", 48, 8, "<i8"},
    {"ts_ns", 56, 8, "<i8"},
    {"origin_seq", 64, 8, "<u8"},
    {"origin_ts_ns", 72, 8, "<i8"},
    {"order_ts_ns", 80, 8, "<i8"},
    {"decided_ts_ns", 88, 8, "<i8"},
};

/* amend: 64 bytes */
#define AMEND_SIZE 64
#define AMEND_AMEND_ID_OFF 0
#define AMEND_AMEND_ID_T uint64_t
#define AMEND_ORDER_ID_OFF 8
#define AMEND_ORDER_ID_T uint64_t
#define AMEND_STRATEGY_ID_OFF 16
#define AMEND_STRATEGY_ID_T uint32_t
#define AMEND_SYMBOL_ID_OFF 20
#define AMEND_SYMBOL_ID_T uint32_t
#define AMEND_ACTION_OFF 24
#define AMEND_ACTION_T uint8_t
#define AMEND_SIDE_OFF 25
#define AMEND_SIDE_T int8_t
#define AMEND_VERDICT_OFF 26
#define AMEND_VERDICT_T uint8_t
#define AMEND_PAD0_OFF 27
#define AMEND_PAD0_T uint8_t
#define AMEND_REASON_OFF 28
#define AMEND_REASON_T uint16_t
#define AMEND_PAD1_OFF 30
#define AMEND_PAD1_T uint16_t
#define AMEND_QTY_OFF 32
#define AMEND_QTY_T int64_t
#define AMEND_PRICE_OFF 40
#define AMEND_PRICE_T double
#define AMEND_TS_NS_OFF 48
#define AMEND_TS_NS_T int64_t
#define AMEND_DECIDED_TS_NS_OFF 56
#define AMEND_DECIDED_TS_NS_T int64_t
#define AMEND_NFIELDS 14
static const schema_field AMEND_SCHEMA[AMEND_NFIELDS] = {
    {"amend_id", 0, 8, "<u8"},
    {"order_id", 8, 8, "<u8"},
    {"strategy_id", 16, 4, "<u4"},
    {"symbol_id", 20, 4, "<u4"},
    {"action", 24, 1, "|u1"},
    {"side", 25, 1, "|i1"},
    {"verdict", 26, 1, "|u1"},
    {"_pad0", 27, 1, "|u1"},
    {"reason", 28, 2, "<u2"},
    {"_pad1", 30, 2, "<u2"},
    {"qty", 32, 8, "<i8"},
    {"price", 40, 8, "<f8"},
    {"ts_ns", 48, 8, "<i8"},
    {"decided_ts_ns", 56, 8, "<i8"},
};

/* feature: 144 bytes */
#define FEATURE_SIZE 144
#define FEATURE_ORIGIN_SEQ_OFF 0
#define FEATURE_ORIGIN_SEQ_T uint64_t
#define FEATURE_ORIGIN_TS_NS_OFF 8
#define FEATURE_ORIGIN_TS_NS_T int64_t
#define FEATURE_BAR_NS_OFF 16
#define FEATURE_BAR_NS_T int64_t
#define FEATURE_TS_NS_OFF 24
#define FEATURE_TS_NS_T int64_t
#define FEATURE_SYMBOL_ID_OFF 32
#define FEATURE_SYMBOL_ID_T uint32_t
#define FEATURE_HORIZON_SHORT_OFF 36
#define FEATURE_HORIZON_SHORT_T uint16_t
#define FEATURE_HORIZON_MID_OFF 38
#define FEATURE_HORIZON_MID_T uint16_t
#define FEATURE_HORIZON_LONG_OFF 40
#define FEATURE_HORIZON_LONG_T uint16_t
#define FEATURE_PAD0_OFF 42
#define FEATURE_PAD0_T uint16_t
#define FEATURE_PAD1_OFF 44
#define FEATURE_PAD1_T uint32_t
#define FEATURE_CLOSE_OFF 48
#define FEATURE_CLOSE_T double
#define FEATURE_EMA_OFF 56
#define FEATURE_EMA_T double
#define FEATURE_VOL_OFF 64
#define FEATURE_VOL_T double
#define FEATURE_RSI_OFF 72
#define FEATURE_RSI_T double
#define FEATURE_VWAP_OFF 80
#define FEATURE_VWAP_T double
#define FEATURE_OFI_OFF 88
#define FEATURE_OFI_T double
#define FEATURE_RET_SHORT_OFF 96
#define FEATURE_RET_SHORT_T double
#define FEATURE_RET_MID_OFF 104
#define FEATURE_RET_MID_T double
#define FEATURE_RET_LONG_OFF 112
#define FEATURE_RET_LONG_T double
#define FEATURE_MOMENTUM_OFF 120
#define FEATURE_MOMENTUM_T double
#define FEATURE_MEAN_REVERSION_OFF 128
#define FEATURE_MEAN_REVERSION_T double
#define FEATURE_VOL_RANK_OFF 136
#define FEATURE_VOL_RANK_T double
#define FEATURE_NFIELDS 22
static const schema_field FEATURE_SCHEMA[FEATURE_NFIELDS] = {
    {"origin_seq", 0, 8, "<u8"},
    {"origin_ts_ns", 8, 8, "<i8"},
    {"bar_ns", 16, 8, "<i8"},
    {"ts_ns", 24, 8, "<i8"},
    {"symbol_id", 32, 4, "<u4"},
    {"horizon_short", 36, 2, "<u2"},
    {"horizon_mid", 38, 2, "<u2"},
    {"horizon_long", 40, 2, "<u2"},
    {"_pad0", 42, 2, "<u2"},
    {"_pad1", 44, 4, "<u4"},
    {"close", 48, 8, "<f8"},
    {"ema", 56, 8, "<f8"},
    {"vol", 64, 8, "<f8"},
    {"rsi", 72, 8, "<f8"},
    {"vwap", 80, 8, "<f8"},
    {"ofi", 88, 8, "<f8"},
    {"ret_short", 96, 8, "<f8"},
    {"ret_mid", 104, 8, "<f8"},
    {"ret_long", 112, 8, "<f8"},
    {"momentum", 120, 8, "<f8"},
    {"mean_reversion", 128, 8, "<f8"},
    {"vol_rank", 136, 8, "<f8"},
};

/* signal: 48 bytes */
#define SIGNAL_SIZE 48
#define SIGNAL_ORIGIN_SEQ_OFF 0
#define SIGNAL_ORIGIN_SEQ_T uint64_t
#define SIGNAL_ORIGIN_TS_NS_OFF 8
#define SIGNAL_ORIGIN_TS_NS_T int64_t
#define SIGNAL_BAR_NS_OFF 16
#define SIGNAL_BAR_NS_T int64_t
#define SIGNAL_TS_NS_OFF 24
#define SIGNAL_TS_NS_T int64_t
#define SIGNAL_SYMBOL_ID_OFF 32
#define SIGNAL_SYMBOL_ID_T uint32_t
#define SIGNAL_MODEL_VERSION_OFF 36
#define SIGNAL_MODEL_VERSION_T uint32_t
#define SIGNAL_PREDICTION_OFF 40
#define SIGNAL_PREDICTION_T double
#define SIGNAL_NFIELDS 7
static const schema_field SIGNAL_SCHEMA[SIGNAL_NFIELDS] = {
    {"origin_seq", 0, 8, "<u8"},
    {"origin_ts_ns", 8, 8, "<i8"},
    {"bar_ns", 16, 8, "<i8"},
    {"ts_ns", 24, 8, "<i8"},
    {"symbol_id", 32, 4, "<u4"},
    {"model_version", 36, 4, "<u4"},
    {"prediction", 40, 8, "<f8"},
};

#define SIDE_BUY 1
#define SIDE_SELL (-1)
#define TYPE_MARKET 0
#define TYPE_LIMIT 1
#define TIF_DAY 0
#define TIF_IOC 1
#define TIF_FOK 2
#define TIF_GTC 3
#define VERDICT_APPROVED 1
#define VERDICT_REJECTED 2
#define REASON_OK 0
#define REASON_MAX_QTY 1
#define REASON_MAX_NOTIONAL 2
#define REASON_MAX_POSITION 3
#define REASON_MAX_GROSS 4
#define REASON_PRICE_BAND 5
#define REASON_RATE_LIMIT 6
#define REASON_KILL_SWITCH 7
#define REASON_NO_MARKET 8
#define REASON_INVALID 9
#define REASON_STALE 10
#define REASON_BUDGET 17
#define REASON_NO_BUDGET 18
#define REASON_TICK_SIZE 11
#define REASON_LOT_SIZE 12
#define REASON_SELF_MATCH 13
#define REASON_UNKNOWN_ORDER 14
#define REASON_VENUE_DOWN 15
#define REASON_VENUE 16
#define LIQUIDITY_MAKER 1
#define LIQUIDITY_TAKER 2
#define FILL_PARTIAL 1
#define FILL_FILLED 2
#define FILL_CANCELLED 3
#define FILL_REJECTED 4
#define FILL_EXPIRED 5
#define FILL_ACCEPTED 6
#define FILL_REPLACED 7
#define FILL_AMEND_REJECTED 8
#define FILL_ROUTED 9
#define FILL_CHILD_REJECTED 10
#define AMEND_CANCEL 1
#define AMEND_REPLACE 2
#define LAYOUT_NCONSTANTS 43
static const schema_const LAYOUT_CONSTANTS[LAYOUT_NCONSTANTS] = {
    {"SIDE_BUY", 1},
    {"SIDE_SELL", -1},
    {"TYPE_MARKET", 0},
    {"TYPE_LIMIT", 1},
    {"TIF_DAY", 0},
    {"TIF_IOC", 1},
    {"TIF_FOK", 2},
    {"TIF_GTC", 3},
    {"VERDICT_APPROVED", 1},
    {"VERDICT_REJECTED", 2},
    {"REASON_OK", 0},
    {"REASON_MAX_QTY", 1},
    {"REASON_MAX_NOTIONAL", 2},
    {"REASON_MAX_POSITION", 3},
    {"REASON_MAX_GROSS", 4},
    {"REASON_PRICE_BAND", 5},
    {"REASON_RATE_LIMIT", 6},
    {"REASON_KILL_SWITCH", 7},
    {"REASON_NO_MARKET", 8},
    {"REASON_INVALID", 9},
    {"REASON_STALE", 10},
    {"REASON_BUDGET", 17},
    {"REASON_NO_BUDGET", 18},
    {"REASON_TICK_SIZE", 11},
    {"REASON_LOT_SIZE", 12},
    {"REASON_SELF_MATCH", 13},
    {"REASON_UNKNOWN_ORDER", 14},
    {"REASON_VENUE_DOWN", 15},
    {"REASON_VENUE", 16},
    {"LIQUIDITY_MAKER", 1},
    {"LIQUIDITY_TAKER", 2},
    {"FILL_PARTIAL", 1},
    {"FILL_FILLED", 2},
    {"FILL_CANCELLED", 3},
    {"FILL_REJECTED", 4},
    {"FILL_EXPIRED", 5},
    {"FILL_ACCEPTED", 6},
    {"FILL_REPLACED", 7},
    {"FILL_AMEND_REJECTED", 8},
    {"FILL_ROUTED", 9},
    {"FILL_CHILD_REJECTED", 10},
    {"AMEND_CANCEL", 1},
    {"AMEND_REPLACE", 2},
};

#endif /* NAUTILUSD_SCHEMA_H */
