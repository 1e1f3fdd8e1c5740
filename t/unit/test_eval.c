
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of the pure evaluator ngx_yoti_idv_eval.c.  Run from t/unit
 * (make -C t/unit test): fixtures are read from ./fixtures and, when the
 * mock's fixtures exist, ../mock/sessions.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_eval.h"
#include "tap.h"


#define SID       "sess-1"
#define MAX_REQS  16


/* JSON builders: single quotes stand for double quotes (see dq()) */

#define CHK(t, s, v)                                                         \
    "{'type':'" t "','id':'id-" t "','state':'" s "','report':"            \
    "{'recommendation':{'value':'" v "'},'breakdown':[]}}"

#define CHK_R(t, s, v, r)                                                    \
    "{'type':'" t "','id':'id-" t "','state':'" s "','report':"            \
    "{'recommendation':{'value':'" v "','reason':'" r "'}}}"

#define CHK_NR(t, s)                                                         \
    "{'type':'" t "','id':'id-" t "','state':'" s "'}"

#define SESS(st, checks)                                                     \
    "{'session_id':'" SID "','user_tracking_id':'alice','state':'" st       \
    "','checks':[" checks "]}"

#define SESSX(st, extra)                                                     \
    "{'session_id':'" SID "','user_tracking_id':'alice','state':'" st       \
    "'" extra "}"

#define LIV_OK   CHK("LIVENESS", "DONE", "APPROVE")
#define LIV_NO   CHK("LIVENESS", "DONE", "REJECT")
#define FC_OK    CHK("FACE_COMPARISON", "DONE", "APPROVE")
#define FC_NO    CHK("FACE_COMPARISON", "DONE", "REJECT")

#define LONG_TYPE                                                            \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ0"

#define LONG_SID                                                             \
    "abcdefghijklmnopqrstuvwxyz-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#define TOKEN32  "ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCDE"
#define TOKEN33  "ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCDEF"

/* a string literal and its length, embedded NULs included */
#define LIT(s)   s, sizeof(s) - 1

#define ALLOW    NGX_YOTI_IDV_ALLOW
#define DENY     NGX_YOTI_IDV_DENY
#define PENDING  NGX_YOTI_IDV_PENDING
#define ERROR    NGX_YOTI_IDV_ERROR


typedef struct {
    const char                *name;
    int                        status;    /* 0: ngx_yoti_idv_eval_session */
    const char                *json;
    const char                *reqs;      /* "TYPE[:any|:all] ..." */
    const char                *user;      /* NULL: no binding */
    ngx_yoti_idv_verdict_e     verdict;
    const char                *reason;
} eval_case_t;


typedef struct {
    ngx_yoti_idv_req_t         reqs[MAX_REQS];
    ngx_yoti_idv_policy_t      policy;
} policy_t;


static const eval_case_t  cases[] = {

    /* state */

    { "completed, no checks, no requirements", 0,
      SESS("COMPLETED", ""), "", "alice", ALLOW, "ok" },
    { "completed without a checks field", 0,
      SESSX("COMPLETED", ""), "", "alice", ALLOW, "ok" },
    { "minimal document", 0,
      "{'state':'COMPLETED'}", "", NULL, ALLOW, "ok" },
    { "ONGOING is pending", 0,
      SESS("ONGOING", LIV_OK), "LIVENESS", "alice", PENDING,
      "state:ONGOING" },
    { "ONGOING is pending even with failing checks", 0,
      SESS("ONGOING", LIV_NO), "LIVENESS", "alice", PENDING,
      "state:ONGOING" },
    { "EXPIRED", 0,
      SESS("EXPIRED", LIV_OK), "LIVENESS", "alice", DENY, "state:EXPIRED" },
    { "other upper-case state", 0,
      SESS("CANCELLED", LIV_OK), "LIVENESS", "alice", DENY,
      "state:CANCELLED" },
    { "state with underscore", 0,
      SESS("ON_HOLD", ""), "", "alice", DENY, "state:ON_HOLD" },
    { "lower-case state is unknown", 0,
      SESS("completed", LIV_OK), "LIVENESS", "alice", DENY, "state:unknown" },
    { "empty state is unknown", 0,
      SESS("", LIV_OK), "LIVENESS", "alice", DENY, "state:unknown" },
    { "32-char state is echoed", 0,
      SESS(TOKEN32, ""), "", "alice", DENY, "state:" TOKEN32 },
    { "33-char state is unknown", 0,
      SESS(TOKEN33, ""), "", "alice", DENY, "state:unknown" },
    { "state with a digit is unknown", 0,
      SESS("STATE2", ""), "", "alice", DENY, "state:unknown" },
    { "state with a dash is unknown", 0,
      SESS("A-B", ""), "", "alice", DENY, "state:unknown" },
    { "state with a quote is unknown", 0,
      SESS("A\\'B", ""), "", "alice", DENY, "state:unknown" },

    /* ANY (LIVENESS default) */

    { "LIVENESS approve", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "alice", ALLOW, "ok" },
    { "LIVENESS retries: reject, reject, approve", 0,
      SESS("COMPLETED", LIV_NO "," LIV_NO "," LIV_OK), "LIVENESS", "alice",
      ALLOW, "ok" },
    { "LIVENESS retries: approve first, then rejects", 0,
      SESS("COMPLETED", LIV_OK "," LIV_NO "," LIV_NO), "LIVENESS", "alice",
      ALLOW, "ok" },
    { "LIVENESS retries with explicit all", 0,
      SESS("COMPLETED", LIV_NO "," LIV_NO "," LIV_OK), "LIVENESS:all",
      "alice", DENY, "check:LIVENESS:REJECT" },
    { "LIVENESS all rejected", 0,
      SESS("COMPLETED", LIV_NO "," LIV_NO), "LIVENESS", "alice", DENY,
      "check:LIVENESS:REJECT" },
    { "ANY reports the last counted value", 0,
      SESS("COMPLETED", LIV_NO "," CHK("LIVENESS", "DONE", "NOT_AVAILABLE")
           "," CHK_NR("LIVENESS", "PENDING")),
      "LIVENESS", "alice", DENY, "check:LIVENESS:NOT_AVAILABLE" },
    { "ANY: not done only", 0,
      SESS("COMPLETED", CHK_NR("LIVENESS", "PENDING")), "LIVENESS", "alice",
      DENY, "check:LIVENESS:not_done" },
    { "ANY: approve but not DONE does not count", 0,
      SESS("COMPLETED", CHK("LIVENESS", "READY", "APPROVE")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:not_done" },
    { "ANY: DONE without report", 0,
      SESS("COMPLETED", CHK_NR("LIVENESS", "DONE")), "LIVENESS", "alice",
      DENY, "check:LIVENESS:not_done" },
    { "ANY: recommendation value not a string", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'DONE','report':"
           "{'recommendation':{'value':1}}}"), "LIVENESS", "alice",
      DENY, "check:LIVENESS:not_done" },
    { "ANY: recommendation not an object", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'DONE','report':"
           "{'recommendation':'APPROVE'}}"), "LIVENESS", "alice",
      DENY, "check:LIVENESS:not_done" },
    { "ANY: report not an object", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'DONE','report':[]}"),
      "LIVENESS", "alice", DENY, "check:LIVENESS:not_done" },
    { "ANY: value at the wrong level", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'DONE','report':"
           "{'value':'APPROVE'},'recommendation':{'value':'APPROVE'}}"),
      "LIVENESS", "alice", DENY, "check:LIVENESS:not_done" },
    { "ANY: lower-case done does not count", 0,
      SESS("COMPLETED", CHK("LIVENESS", "done", "APPROVE")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:not_done" },
    { "ANY: lower-case approve is not approval", 0,
      SESS("COMPLETED", CHK("LIVENESS", "DONE", "approve")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:other" },
    { "ANY: missing", 0,
      SESS("COMPLETED", FC_OK), "LIVENESS", "alice", DENY,
      "check:LIVENESS:missing" },
    { "explicit any on FACE_COMPARISON", 0,
      SESS("COMPLETED", FC_NO "," FC_OK), "FACE_COMPARISON:any", "alice",
      ALLOW, "ok" },

    /* ALL (default for everything but LIVENESS) */

    { "FACE_COMPARISON approve", 0,
      SESS("COMPLETED", LIV_OK "," FC_OK), "FACE_COMPARISON", "alice",
      ALLOW, "ok" },
    { "FACE_COMPARISON reject", 0,
      SESS("COMPLETED", LIV_OK "," FC_NO), "FACE_COMPARISON", "alice",
      DENY, "check:FACE_COMPARISON:REJECT" },
    { "FACE_COMPARISON NOT_AVAILABLE is not approval", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "DONE", "NOT_AVAILABLE")),
      "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:NOT_AVAILABLE" },
    { "FACE_COMPARISON CONSIDER is not approval", 0,
      SESS("COMPLETED", CHK_R("FACE_COMPARISON", "DONE", "CONSIDER",
                              "NEEDS_REVIEW")),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:CONSIDER" },
    { "ALL: approve then reject", 0,
      SESS("COMPLETED", FC_OK "," FC_NO), "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:REJECT" },
    { "ALL: reject then approve", 0,
      SESS("COMPLETED", FC_NO "," FC_OK), "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:REJECT" },
    { "ALL: two approvals", 0,
      SESS("COMPLETED", FC_OK "," FC_OK), "FACE_COMPARISON", "alice", ALLOW,
      "ok" },
    { "ALL: first offender is not done", 0,
      SESS("COMPLETED", FC_OK "," CHK_NR("FACE_COMPARISON", "PENDING") ","
           FC_NO), "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:not_done" },
    { "ALL: first offender is a value", 0,
      SESS("COMPLETED", FC_OK "," CHK("FACE_COMPARISON", "DONE", "CONSIDER")
           "," CHK_NR("FACE_COMPARISON", "PENDING")), "FACE_COMPARISON",
      "alice", DENY, "check:FACE_COMPARISON:CONSIDER" },
    { "ALL: missing", 0,
      SESS("COMPLETED", LIV_OK), "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:missing" },
    { "ALL: approve but CREATED", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "CREATED", "APPROVE")),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:not_done" },
    { "value with a dash becomes other", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "DONE", "NOT-AVAILABLE")),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:other" },
    { "empty value becomes other", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "DONE", "")),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:other" },
    { "32-char value is echoed", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "DONE", TOKEN32)),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:" TOKEN32 },
    { "33-char value becomes other", 0,
      SESS("COMPLETED", CHK("FACE_COMPARISON", "DONE", TOKEN33)),
      "FACE_COMPARISON", "alice", DENY, "check:FACE_COMPARISON:other" },
    { "64-char type with 32-char value still fits", 0,
      SESS("COMPLETED", CHK(LONG_TYPE, "DONE", TOKEN32)), LONG_TYPE,
      "alice", DENY, "check:" LONG_TYPE ":other" },
    { "64-char type missing", 0,
      SESS("COMPLETED", ""), LONG_TYPE, "alice", DENY,
      "check:" LONG_TYPE ":missing" },
    { "64-char type approve", 0,
      SESS("COMPLETED", CHK(LONG_TYPE, "DONE", "APPROVE")), LONG_TYPE,
      "alice", ALLOW, "ok" },

    /* several requirements: config order, first failure wins */

    { "liveness + face comparison", 0,
      SESS("COMPLETED", LIV_NO "," LIV_OK "," FC_OK),
      "LIVENESS FACE_COMPARISON", "alice", ALLOW, "ok" },
    { "both fail, LIVENESS first", 0,
      SESS("COMPLETED", LIV_NO "," FC_NO), "LIVENESS FACE_COMPARISON",
      "alice", DENY, "check:LIVENESS:REJECT" },
    { "both fail, FACE_COMPARISON first", 0,
      SESS("COMPLETED", LIV_NO "," FC_NO), "FACE_COMPARISON LIVENESS",
      "alice", DENY, "check:FACE_COMPARISON:REJECT" },
    { "second requirement fails", 0,
      SESS("COMPLETED", LIV_OK "," FC_NO), "LIVENESS FACE_COMPARISON",
      "alice", DENY, "check:FACE_COMPARISON:REJECT" },
    { "same requirement twice", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS LIVENESS:all", "alice", ALLOW,
      "ok" },
    { "unknown type matched generically", 0,
      SESS("COMPLETED", CHK("BRAND_NEW_CHECK", "DONE", "APPROVE")),
      "BRAND_NEW_CHECK", "alice", ALLOW, "ok" },
    { "unknown type rejected", 0,
      SESS("COMPLETED", CHK("BRAND_NEW_CHECK", "DONE", "REJECT")),
      "BRAND_NEW_CHECK", "alice", DENY, "check:BRAND_NEW_CHECK:REJECT" },
    { "unrequired failing checks are ignored", 0,
      SESS("COMPLETED", LIV_OK "," CHK("WATCHLIST_SCREENING", "DONE",
                                       "CONSIDER")),
      "LIVENESS", "alice", ALLOW, "ok" },
    { "type match is exact: prefix", 0,
      SESS("COMPLETED", CHK("LIVENESS_X", "DONE", "APPROVE")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:missing" },
    { "type match is exact: case", 0,
      SESS("COMPLETED", CHK("liveness", "DONE", "APPROVE")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:missing" },
    { "type match is exact: shorter", 0,
      SESS("COMPLETED", CHK("LIVE", "DONE", "APPROVE")), "LIVENESS",
      "alice", DENY, "check:LIVENESS:missing" },
    { "checks field absent", 0,
      SESSX("COMPLETED", ""), "LIVENESS", "alice", DENY,
      "check:LIVENESS:missing" },

    /* IDENTITY_PROFILE */

    { "identity profile DONE", 0,
      SESSX("COMPLETED", ",'identity_profile':{'subject_id':'x',"
            "'result':'DONE'}"), "IDENTITY_PROFILE", "alice", ALLOW, "ok" },
    { "identity profile DONE, failure_reason null", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'DONE',"
            "'failure_reason':null}"), "IDENTITY_PROFILE", "alice", ALLOW,
      "ok" },
    { "identity profile DONE with failure_reason", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'DONE',"
            "'failure_reason':{'reason_code':'X'}}"), "IDENTITY_PROFILE",
      "alice", DENY, "check:IDENTITY_PROFILE:X" },
    { "identity profile failure reason_code that is not a token", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'DONE',"
            "'failure_reason':{'reason_code':'no such code'}}"),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:DONE" },
    { "identity profile FAIL", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'FAIL',"
            "'failure_reason':{'reason_code':'X'}}"), "IDENTITY_PROFILE",
      "alice", DENY, "check:IDENTITY_PROFILE:X" },
    { "identity profile FAIL without failure_reason", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'FAIL'}"),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:FAIL" },
    { "identity profile lower-case result", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'done'}"),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:other" },
    { "identity profile absent", 0,
      SESS("COMPLETED", LIV_OK), "IDENTITY_PROFILE", "alice", DENY,
      "check:IDENTITY_PROFILE:missing" },
    { "identity profile null", 0,
      SESSX("COMPLETED", ",'identity_profile':null"), "IDENTITY_PROFILE",
      "alice", DENY, "check:IDENTITY_PROFILE:missing" },
    { "identity profile a string", 0,
      SESSX("COMPLETED", ",'identity_profile':'DONE'"), "IDENTITY_PROFILE",
      "alice", DENY, "check:IDENTITY_PROFILE:missing" },
    { "identity profile without result", 0,
      SESSX("COMPLETED", ",'identity_profile':{'subject_id':'x'}"),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:missing" },
    { "identity profile result a number", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':1}"),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:missing" },
    { "identity profile mode is ignored", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'DONE'}"),
      "IDENTITY_PROFILE:any", "alice", ALLOW, "ok" },
    { "a check named IDENTITY_PROFILE does not count", 0,
      SESS("COMPLETED", CHK("IDENTITY_PROFILE", "DONE", "APPROVE")),
      "IDENTITY_PROFILE", "alice", DENY, "check:IDENTITY_PROFILE:missing" },
    { "identity profile after a passing check", 0,
      SESSX("COMPLETED", ",'checks':[" LIV_OK "],'identity_profile':"
            "{'result':'FAIL'}"), "LIVENESS IDENTITY_PROFILE", "alice", DENY,
      "check:IDENTITY_PROFILE:FAIL" },

    /* user binding */

    { "user matches", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "alice", ALLOW, "ok" },
    { "user differs", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "mallory", DENY,
      "user_mismatch" },
    { "user is a prefix", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "alic", DENY, "user_mismatch" },
    { "user is longer", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "alice2", DENY,
      "user_mismatch" },
    { "user differs in case", 0,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "Alice", DENY, "user_mismatch" },
    { "user check comes before state", 0,
      SESS("ONGOING", LIV_OK), "LIVENESS", "mallory", DENY,
      "user_mismatch" },
    { "user check comes before EXPIRED", 0,
      SESS("EXPIRED", ""), "", "mallory", DENY, "user_mismatch" },
    { "user check comes before checks", 0,
      SESS("COMPLETED", LIV_NO), "LIVENESS", "mallory", DENY,
      "user_mismatch" },
    { "no user_tracking_id", 0,
      "{'state':'COMPLETED'}", "", "alice", DENY, "user_mismatch" },
    { "no user_tracking_id, binding off", 0,
      "{'state':'COMPLETED'}", "", NULL, ALLOW, "ok" },
    { "user_tracking_id a number", 0,
      "{'state':'COMPLETED','user_tracking_id':42}", "", "42", DENY,
      "user_mismatch" },
    { "user_tracking_id null", 0,
      "{'state':'COMPLETED','user_tracking_id':null}", "", "null", DENY,
      "user_mismatch" },
    { "user_tracking_id an array", 0,
      "{'state':'COMPLETED','user_tracking_id':['alice']}", "", "alice", DENY,
      "user_mismatch" },
    { "user_tracking_id a number, binding off", 0,
      "{'state':'COMPLETED','user_tracking_id':42}", "", NULL, ALLOW, "ok" },
    { "empty user matches empty user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':''}", "", "", ALLOW, "ok" },
    { "empty user vs non-empty user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'x'}", "", "", DENY,
      "user_mismatch" },
    { "escaped quote in user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'a\\'b'}", "", "a\"b", ALLOW,
      "ok" },
    { "unicode escape in user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'caf\\u00e9'}", "",
      "caf\xc3\xa9", ALLOW, "ok" },
    { "surrogate pair in user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'\\ud83d\\ude00'}", "",
      "\xf0\x9f\x98\x80", ALLOW, "ok" },
    { "escaped backslash before u0000 is text", 0,
      "{'state':'COMPLETED','user_tracking_id':'a\\\\u0000'}", "",
      "a\\u0000", ALLOW, "ok" },
    { "key names are case-sensitive", 0,
      "{'state':'COMPLETED','User_Tracking_Id':'alice'}", "", "alice", DENY,
      "user_mismatch" },

    /* session id */

    { "session id differs", 0,
      "{'session_id':'sess-2','state':'COMPLETED'}", "", NULL, ERROR,
      "provider:session_mismatch" },
    { "session id is a prefix", 0,
      "{'session_id':'sess','state':'COMPLETED'}", "", NULL, ERROR,
      "provider:session_mismatch" },
    { "session id is longer", 0,
      "{'session_id':'sess-12','state':'COMPLETED'}", "", NULL, ERROR,
      "provider:session_mismatch" },
    { "session id mismatch beats user mismatch", 0,
      "{'session_id':'x','state':'COMPLETED'}", "", "alice", ERROR,
      "provider:session_mismatch" },
    { "session id mismatch beats ONGOING", 0,
      "{'session_id':'x','state':'ONGOING'}", "", NULL, ERROR,
      "provider:session_mismatch" },
    { "session id a number", 0,
      "{'session_id':1,'state':'COMPLETED'}", "", NULL, ERROR,
      "provider:bad_type" },
    { "session id null", 0,
      "{'session_id':null,'state':'COMPLETED'}", "", NULL, ERROR,
      "provider:bad_type" },

    /* bad types */

    { "top level array", 0,
      "[" SESS("COMPLETED", LIV_OK) "]", "LIVENESS", "alice", ERROR,
      "provider:bad_type" },
    { "top level string", 0,
      "'COMPLETED'", "", NULL, ERROR, "provider:bad_type" },
    { "top level number", 0, "42", "", NULL, ERROR, "provider:bad_type" },
    { "top level null", 0, "null", "", NULL, ERROR, "provider:bad_type" },
    { "top level true", 0, "true", "", NULL, ERROR, "provider:bad_type" },
    { "empty object", 0, "{}", "", NULL, ERROR, "provider:bad_type" },
    { "state missing", 0,
      "{'session_id':'" SID "','checks':[]}", "", NULL, ERROR,
      "provider:bad_type" },
    { "state a number", 0,
      "{'state':3}", "", NULL, ERROR, "provider:bad_type" },
    { "state null", 0,
      "{'state':null}", "", NULL, ERROR, "provider:bad_type" },
    { "state an object", 0,
      "{'state':{'value':'COMPLETED'}}", "", NULL, ERROR,
      "provider:bad_type" },
    { "State in another case", 0,
      "{'State':'COMPLETED'}", "", NULL, ERROR, "provider:bad_type" },
    { "checks an object", 0,
      SESSX("COMPLETED", ",'checks':{'LIVENESS':" LIV_OK "}"), "LIVENESS",
      "alice", ERROR, "provider:bad_type" },
    { "checks null", 0,
      SESSX("COMPLETED", ",'checks':null"), "", "alice", ERROR,
      "provider:bad_type" },
    { "checks a string", 0,
      SESSX("COMPLETED", ",'checks':'none'"), "", "alice", ERROR,
      "provider:bad_type" },
    { "check element a string", 0,
      SESS("COMPLETED", LIV_OK ",'LIVENESS'"), "LIVENESS", "alice", ERROR,
      "provider:bad_type" },
    { "check element null", 0,
      SESS("COMPLETED", "null"), "", "alice", ERROR, "provider:bad_type" },
    { "check element an array", 0,
      SESS("COMPLETED", "[]"), "", "alice", ERROR, "provider:bad_type" },
    { "check type missing", 0,
      SESS("COMPLETED", "{'state':'DONE'}"), "", "alice", ERROR,
      "provider:bad_type" },
    { "check type a number", 0,
      SESS("COMPLETED", "{'type':1,'state':'DONE'}"), "", "alice", ERROR,
      "provider:bad_type" },
    { "check state missing", 0,
      SESS("COMPLETED", "{'type':'LIVENESS'}"), "", "alice", ERROR,
      "provider:bad_type" },
    { "check state null", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':null}"), "", "alice",
      ERROR, "provider:bad_type" },
    { "bad check even when not required", 0,
      SESS("COMPLETED", LIV_OK ",{'type':'OTHER','state':false}"),
      "LIVENESS", "alice", ERROR, "provider:bad_type" },
    { "bad check even when ONGOING", 0,
      SESS("ONGOING", "{'type':[],'state':'DONE'}"), "", "alice", ERROR,
      "provider:bad_type" },
    { "bad type beats user mismatch", 0,
      SESS("COMPLETED", "1"), "", "mallory", ERROR, "provider:bad_type" },
    { "duplicate state", 0,
      "{'state':'EXPIRED','state':'COMPLETED'}", "", NULL, ERROR,
      "provider:bad_type" },
    { "duplicate user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'alice',"
      "'user_tracking_id':'mallory'}", "", "alice", ERROR,
      "provider:bad_type" },
    { "duplicate check state", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'PENDING',"
           "'state':'DONE'}"), "", "alice", ERROR, "provider:bad_type" },
    { "duplicate recommendation value", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','state':'DONE','report':"
           "{'recommendation':{'value':'REJECT','value':'APPROVE'}}}"),
      "LIVENESS", "alice", ERROR, "provider:bad_type" },
    { "duplicate identity_profile result", 0,
      SESSX("COMPLETED", ",'identity_profile':{'result':'FAIL',"
            "'result':'DONE'}"), "", "alice", ERROR, "provider:bad_type" },
    { "duplicate check id and reason are fine", 0,
      SESS("COMPLETED", "{'type':'LIVENESS','id':'a','id':'b','state':'DONE',"
           "'report':{'recommendation':{'value':'APPROVE','reason':'x',"
           "'reason':'y'}}}"), "LIVENESS", "alice", ALLOW, "ok" },
    { "duplicate unrelated key is fine", 0,
      SESSX("COMPLETED", ",'resources':{},'resources':{}"), "", "alice",
      ALLOW, "ok" },

    /* bad JSON */

    { "empty body", 0, "", "", NULL, ERROR, "provider:empty" },
    { "whitespace only", 0, " \n\t ", "", NULL, ERROR, "provider:bad_json" },
    { "open brace", 0, "{", "", NULL, ERROR, "provider:bad_json" },
    { "trailing garbage", 0,
      "{'state':'COMPLETED'} x", "", NULL, ERROR, "provider:bad_json" },
    { "two documents", 0,
      "{'state':'COMPLETED'}{'state':'COMPLETED'}", "", NULL, ERROR,
      "provider:bad_json" },
    { "trailing comma in object", 0,
      "{'state':'COMPLETED',}", "", NULL, ERROR, "provider:bad_json" },
    { "trailing whitespace is fine", 0,
      "{'state':'COMPLETED'} \r\n\t ", "", NULL, ALLOW, "ok" },
    { "leading whitespace is fine", 0,
      " \r\n\t {'state':'COMPLETED'}", "", NULL, ALLOW, "ok" },
    { "HTML body", 0,
      "<html><body>502 Bad Gateway</body></html>", "", NULL, ERROR,
      "provider:bad_json" },
    { "unterminated string", 0,
      "{'state':'COMPLETED", "", NULL, ERROR, "provider:bad_json" },
    { "string ending in a backslash", 0,
      "{'state':'COMPLETED\\", "", NULL, ERROR, "provider:bad_json" },
    { "bad escape", 0,
      "{'state':'\\x41'}", "", NULL, ERROR, "provider:bad_json" },
    { "short unicode escape", 0,
      "{'state':'\\u12'}", "", NULL, ERROR, "provider:bad_json" },
    { "u0000 in user_tracking_id", 0,
      "{'state':'COMPLETED','user_tracking_id':'alice\\u0000x'}", "",
      "alice", ERROR, "provider:bad_json" },
    { "u0000 in a key", 0,
      "{'state':'COMPLETED','user_tracking_id\\u0000x':'a'}", "", NULL,
      ERROR, "provider:bad_json" },
    { "u0000 in state", 0,
      "{'state':'COMPLETED\\u0000X'}", "", NULL, ERROR, "provider:bad_json" },
    { "u0000 after an escaped quote", 0,
      "{'state':'COMPLETED','x':'\\'\\u0000'}", "", NULL, ERROR,
      "provider:bad_json" },
    { "u0000 after an escaped backslash in an earlier string", 0,
      "{'state':'COMPLETED','x':'\\\\','y':'\\u0000'}", "", NULL, ERROR,
      "provider:bad_json" },
    { "escaped backslash before u0000 text, strings before it", 0,
      "{'state':'COMPLETED','x':'a','user_tracking_id':'b\\\\u0000'}", "",
      "b\\u0000", ALLOW, "ok" },
    { "bare word", 0, "COMPLETED", "", NULL, ERROR, "provider:bad_json" },

    /* eval_response statuses */

    { "200 goes to the session evaluator", 200,
      SESS("COMPLETED", LIV_OK), "LIVENESS", "alice", ALLOW, "ok" },
    { "200 with an empty body", 200, "", "LIVENESS", "alice", ERROR,
      "provider:empty" },
    { "200 with bad JSON", 200, "{", "", NULL, ERROR, "provider:bad_json" },
    { "404 no session", 404,
      "{'code':'NOT_FOUND','message':'Session not found'}", "LIVENESS",
      "alice", DENY, "no_session" },
    { "404 with an empty body: not the provider's", 404, "", "", NULL,
      ERROR, "provider:404" },
    { "404 with an nginx page: not the provider's", 404,
      "<html><head><title>404 Not Found</title></head></html>", "", NULL,
      ERROR, "provider:404" },
    { "404 with JSON without a code: not the provider's", 404,
      "{'message':'Not Found'}", "", NULL, ERROR, "provider:404" },
    { "404 with a provider error body", 404,
      "{'code':'NOT_FOUND','message':'resource not found'}", "", NULL,
      DENY, "no_session" },
    { "401 signature refused", 401,
      "{'code':'UNAUTHORIZED','message':'Invalid signature'}", "", NULL,
      ERROR, "provider:401" },
    { "504 timeout", 504, "<html>504 Gateway Time-out</html>", "", NULL,
      ERROR, "provider:timeout" },
    { "500", 500, "{'code':'INTERNAL_SERVER_ERROR','message':'oops'}", "",
      NULL, ERROR, "provider:500" },
    { "400", 400, "{'code':'BAD_REQUEST','message':'Missing header'}", "",
      NULL, ERROR, "provider:400" },
    { "429", 429, "", "", NULL, ERROR, "provider:429" },
    { "502", 502, "<html>bad gateway</html>", "", NULL, ERROR,
      "provider:502" },
    { "503", 503, "", "", NULL, ERROR, "provider:503" },
    { "403", 403, "", "", NULL, ERROR, "provider:403" },
    { "204", 204, "", "", NULL, ERROR, "provider:204" },
    { "302", 302, "", "", NULL, ERROR, "provider:302" },
    { "status 0", -1, "", "", NULL, ERROR, "provider:0" },
    { "status 999", 999, "{", "", NULL, ERROR, "provider:999" },
};


static char *
dq(const char *s)
{
    char    *p;
    size_t   i, len;

    len = strlen(s);

    p = malloc(len + 1);
    if (p == NULL) {
        abort();
    }

    for (i = 0; i <= len; i++) {
        p[i] = (s[i] == '\'') ? '"' : s[i];
    }

    return p;
}


static void
policy_init(policy_t *p, const char *reqs, const char *user, const char *sid)
{
    size_t       n;
    const char  *s, *e, *colon;

    memset(p, 0, sizeof(policy_t));

    n = 0;
    s = reqs;

    while (s != NULL && *s != '\0') {

        while (*s == ' ') {
            s++;
        }

        if (*s == '\0') {
            break;
        }

        for (e = s; *e != '\0' && *e != ' '; e++) { /* void */ }

        colon = memchr(s, ':', (size_t) (e - s));

        if (n == MAX_REQS) {
            abort();
        }

        /* types point into the spec: they are not NUL-terminated */
        p->reqs[n].type = s;
        p->reqs[n].type_len = (size_t) ((colon ? colon : e) - s);

        if (colon == NULL) {
            p->reqs[n].mode = ngx_yoti_idv_default_mode(s,
                                                        p->reqs[n].type_len);

        } else if ((size_t) (e - colon) == 4 && memcmp(colon, ":any", 4) == 0)
        {
            p->reqs[n].mode = NGX_YOTI_IDV_REQ_ANY;

        } else {
            p->reqs[n].mode = NGX_YOTI_IDV_REQ_ALL;
        }

        n++;
        s = e;
    }

    p->policy.reqs = p->reqs;
    p->policy.nreqs = n;
    p->policy.session_id = sid;
    p->policy.session_id_len = sid ? strlen(sid) : 0;
    p->policy.user_id = user;
    p->policy.user_id_len = user ? strlen(user) : 0;
}


/* what every result must look like, whatever the input */

static int
result_sane(const ngx_yoti_idv_result_t *res)
{
    size_t  i;

    if (res->verdict > NGX_YOTI_IDV_ERROR) {
        return 0;
    }

    if (memchr(res->reason, '\0', sizeof(res->reason)) == NULL
        || memchr(res->detail, '\0', sizeof(res->detail)) == NULL
        || res->reason[0] == '\0')
    {
        return 0;
    }

    for (i = 0; res->reason[i] != '\0'; i++) {
        if (strchr("abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:",
                   res->reason[i]) == NULL)
        {
            return 0;
        }
    }

    for (i = 0; res->detail[i] != '\0'; i++) {
        if ((unsigned char) res->detail[i] < 0x20
            || (unsigned char) res->detail[i] > 0x7e)
        {
            return 0;
        }
    }

    if ((res->verdict == NGX_YOTI_IDV_ALLOW)
        != (strcmp(res->reason, "ok") == 0))
    {
        return 0;
    }

    return 1;
}


static int
expect(const char *name, const ngx_yoti_idv_result_t *res,
    ngx_yoti_idv_verdict_e verdict, const char *reason)
{
    int  good;

    good = result_sane(res) && res->verdict == verdict
           && strcmp(res->reason, reason) == 0;

    if (!ok(good, "%s: %s %s", name, ngx_yoti_idv_verdict_name(verdict),
            reason))
    {
        printf("#   got: %s \"%s\" (%s)\n",
               ngx_yoti_idv_verdict_name(res->verdict), res->reason,
               res->detail);
    }

    return good;
}


/* evaluates exactly len bytes from a buffer of exactly len bytes */

static void
eval_exact(int status, const char *json, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    char  *buf;

    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, json, len);
    memset(res, 0x5a, sizeof(ngx_yoti_idv_result_t));

    if (status == 0) {
        ngx_yoti_idv_eval_session(buf, len, policy, res);

    } else {
        ngx_yoti_idv_eval_response(status, buf, len, policy, res);
    }

    free(buf);
}


static char *
slurp(const char *path, size_t *len)
{
    FILE    *fp;
    char    *buf;
    long     size;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }

    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0
        || fseek(fp, 0, SEEK_SET) != 0)
    {
        fclose(fp);
        return NULL;
    }

    buf = malloc((size_t) size + 1);
    if (buf == NULL) {
        abort();
    }

    *len = fread(buf, 1, (size_t) size, fp);
    buf[*len] = '\0';

    fclose(fp);

    return buf;
}


/*
 * most documents here are about something else and carry no session_id:
 * they are evaluated without comparing it (a request always asks for one,
 * see test_session_absent())
 */

static const char *
sid_for(const char *json)
{
    return strstr(json, "session_id") ? SID : NULL;
}


static void
test_table(void)
{
    char                   *json;
    size_t                  i;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json = dq(cases[i].json);
        policy_init(&p, cases[i].reqs, cases[i].user, sid_for(json));

        if (cases[i].status < 0) {
            /* eval_exact() takes status 0 to mean eval_session() */
            ngx_yoti_idv_eval_response(0, json, strlen(json), &p.policy,
                                       &res);

        } else {
            eval_exact(cases[i].status, json, strlen(json), &p.policy, &res);
        }

        expect(cases[i].name, &res, cases[i].verdict, cases[i].reason);

        free(json);
    }
}


static int
contains(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}


/* a result without a session_id is not the one asked for */

static void
test_session_absent(void)
{
    char                   *json;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    json = dq("{'state':'COMPLETED','checks':[" LIV_OK "]}");

    policy_init(&p, "LIVENESS", NULL, SID);
    eval_exact(200, json, strlen(json), &p.policy, &res);
    expect("session id absent", &res, NGX_YOTI_IDV_ERROR,
           "provider:session_mismatch");
    ok(contains(res.detail, "without a \"session_id\""),
       "session id absent: the detail says so");

    policy_init(&p, "LIVENESS", "alice", SID);
    eval_exact(200, json, strlen(json), &p.policy, &res);
    expect("session id absent beats user mismatch", &res,
           NGX_YOTI_IDV_ERROR, "provider:session_mismatch");

    policy_init(&p, "LIVENESS", NULL, NULL);
    eval_exact(200, json, strlen(json), &p.policy, &res);
    expect("session id absent, not compared", &res, NGX_YOTI_IDV_ALLOW,
           "ok");

    free(json);
}


static void
eval_str(int status, const char *sq, const char *reqs, const char *user,
    ngx_yoti_idv_result_t *res)
{
    char      *json;
    policy_t   p;

    json = dq(sq);
    policy_init(&p, reqs, user, sid_for(json));
    eval_exact(status, json, strlen(json), &p.policy, res);
    free(json);
}


static void
test_details(void)
{
    char                   *big, *json;
    size_t                  i, n;
    ngx_yoti_idv_result_t   res;

    eval_str(401, "{'code':'UNAUTHORIZED','message':'bad sig'}", "", NULL,
             &res);
    ok(contains(res.detail, "yoti_idv_sdk_id")
       && contains(res.detail, "yoti_idv_pem_key")
       && contains(res.detail, "signature"),
       "401 detail names the sdk id and key directives: %s", res.detail);
    ok(contains(res.detail, "UNAUTHORIZED") && contains(res.detail, "bad sig"),
       "401 detail carries the provider error");

    eval_str(500, "{'code':'INTERNAL_SERVER_ERROR','message':'Something "
             "went wrong','errors':[{'property':'sdkId','message':"
             "'must not be null'}]}", "", NULL, &res);
    ok(contains(res.detail, "INTERNAL_SERVER_ERROR")
       && contains(res.detail, "Something went wrong")
       && contains(res.detail, "sdkId")
       && contains(res.detail, "must not be null")
       && contains(res.detail, "500"),
       "500 detail has code, message, property: %s", res.detail);

    eval_str(400, "{'message':'only a message'}", "", NULL, &res);
    ok(contains(res.detail, "only a message"), "400 detail, message only");

    eval_str(400, "{'code':1,'message':['x']}", "", NULL, &res);
    ok(result_sane(&res) && strcmp(res.reason, "provider:400") == 0
       && !contains(res.detail, ";"),
       "400 with non-string code/message: plain detail: %s", res.detail);

    eval_str(404, "{'code':'NOT_FOUND','message':'Session not found'}", "",
             NULL, &res);
    ok(contains(res.detail, "NOT_FOUND"), "404 detail has the code");

    eval_str(429, "['code','message']", "", NULL, &res);
    ok(result_sane(&res) && strcmp(res.reason, "provider:429") == 0,
       "429 with a JSON array body");

    eval_str(502, "{'code':'X\\u0000Y'}", "", NULL, &res);
    ok(result_sane(&res) && strcmp(res.reason, "provider:502") == 0
       && !contains(res.detail, "X"),
       "502 with u0000 in the error body is ignored");

    eval_str(400, "{'code':'BAD\\nREQ\\u0001','message':'caf\\u00e9 \\t\\r"
             "\\u007f\\'q\\''}", "", NULL, &res);
    ok(result_sane(&res) && contains(res.detail, "BAD?REQ?")
       && contains(res.detail, "caf?? ???\"q\""),
       "error body text reduced to printable ASCII: %s", res.detail);

    n = 100000;
    big = malloc(n + 64);
    if (big == NULL) {
        abort();
    }

    strcpy(big, "{\"code\":\"TOO_LONG\",\"message\":\"");
    i = strlen(big);
    memset(big + i, 'm', n);
    strcpy(big + i + n, "\"}");

    ngx_yoti_idv_eval_response(400, big, strlen(big), NULL, &res);
    ok(result_sane(&res) && strlen(res.detail) < NGX_YOTI_IDV_DETAIL_LEN
       && contains(res.detail, "TOO_LONG"),
       "100 KB error message is truncated (%lu bytes)",
       (unsigned long) strlen(res.detail));

    free(big);

    eval_str(0, "{'state':'COMPLETED'} x", "", NULL, &res);
    ok(contains(res.detail, "offset 22"), "bad_json detail has the offset: %s",
       res.detail);

    eval_str(0, "{'state':'COMPLETED','x':'\\u0000'}", "", NULL, &res);
    ok(contains(res.detail, "NUL character at offset 26"),
       "NUL detail has the offset: %s", res.detail);

    eval_str(0, "{'state':3}", "", NULL, &res);
    ok(contains(res.detail, "\"state\""), "bad_type detail names state: %s",
       res.detail);

    eval_str(0, "{'checks':[]}", "", NULL, &res);
    ok(contains(res.detail, "\"state\"") && contains(res.detail, "missing"),
       "missing state detail: %s", res.detail);

    eval_str(0, SESS("COMPLETED", LIV_OK ",{'type':'X'}"), "", NULL, &res);
    ok(contains(res.detail, "checks[1]") && contains(res.detail, "state"),
       "bad check detail names the element: %s", res.detail);

    eval_str(0, "{'state':'A','state':'B'}", "", NULL, &res);
    ok(contains(res.detail, "\"state\"") && contains(res.detail, "twice"),
       "duplicate detail names the field: %s", res.detail);

    eval_str(0, "{'session_id':'other','state':'COMPLETED'}", "", NULL, &res);
    ok(contains(res.detail, SID) && contains(res.detail, "other"),
       "session_mismatch detail names both ids: %s", res.detail);

    eval_str(0, SESS("COMPLETED", CHK_R("FAMILIAR_FACE_SEARCH", "DONE",
                                        "REJECT", "MATCH_FOUND")),
             "FAMILIAR_FACE_SEARCH", "alice", &res);
    ok(contains(res.detail, "MATCH_FOUND")
       && contains(res.detail, "id-FAMILIAR_FACE_SEARCH"),
       "check detail has the check id and reason: %s", res.detail);

    eval_str(0, SESS("COMPLETED", LIV_OK), "LIVENESS", "mallory", &res);
    ok(!contains(res.detail, "mallory") && !contains(res.detail, "alice"),
       "user_mismatch detail keeps user ids out: %s", res.detail);

    eval_str(0, SESSX("COMPLETED", ",'identity_profile':{'result':'DONE',"
                      "'failure_reason':{'reason_code':'MANDATORY_DOCUMENT'}}"),
             "IDENTITY_PROFILE", NULL, &res);
    ok(contains(res.detail, "MANDATORY_DOCUMENT"),
       "identity profile detail has the reason code: %s", res.detail);

    json = dq(SESS("COMPLETED", LIV_OK));
    ngx_yoti_idv_eval_session(json, strlen(json), NULL, &res);
    ok(result_sane(&res) && res.verdict == NGX_YOTI_IDV_ERROR,
       "NULL policy is an error");
    free(json);

    eval_str(0, SESS("COMPLETED", LIV_OK), "LIVENESS", "alice", &res);
    ok(res.detail[0] == '\0', "ALLOW has an empty detail");
}


static void
test_policy(void)
{
    char                    json[] = "{\"state\":\"COMPLETED\"}";
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    policy_init(&p, "LIVENESS", NULL, NULL);

    p.reqs[0].type = "liveness";
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("lower-case requirement type", &res, ERROR, "internal:bad_policy");

    p.reqs[0].type = LONG_TYPE "X";
    p.reqs[0].type_len = strlen(LONG_TYPE "X");
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("65-byte requirement type", &res, ERROR, "internal:bad_policy");

    p.reqs[0].type = "LIVENESS";
    p.reqs[0].type_len = 0;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("empty requirement type", &res, ERROR, "internal:bad_policy");

    p.reqs[0].type = NULL;
    p.reqs[0].type_len = 8;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("NULL requirement type", &res, ERROR, "internal:bad_policy");

    p.reqs[0].type = "LIVENESS";
    p.reqs[0].type_len = 8;
    p.reqs[0].mode = 0;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("mode 0", &res, ERROR, "internal:bad_policy");

    p.reqs[0].mode = 3;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("mode 3", &res, ERROR, "internal:bad_policy");

    p.reqs[0].mode = NGX_YOTI_IDV_REQ_ANY;
    p.policy.reqs = NULL;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("nreqs 1, reqs NULL", &res, ERROR, "internal:bad_policy");

    p.policy.nreqs = 0;
    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, &res);
    expect("nreqs 0, reqs NULL", &res, ALLOW, "ok");

    p.policy.session_id = NULL;
    ngx_yoti_idv_eval_session(
        LIT("{\"session_id\":\"zz\",\"state\":\"COMPLETED\"}"), &p.policy,
        &res);
    expect("NULL policy session id: not compared", &res, ALLOW, "ok");

    ngx_yoti_idv_eval_session(NULL, 5, &p.policy, &res);
    expect("NULL body", &res, ERROR, "provider:empty");

    ngx_yoti_idv_eval_response(200, NULL, 0, &p.policy, &res);
    expect("200, NULL body", &res, ERROR, "provider:empty");

    ngx_yoti_idv_eval_response(500, NULL, 10, &p.policy, &res);
    expect("500, NULL body", &res, ERROR, "provider:500");

    ngx_yoti_idv_eval_session(json, strlen(json), &p.policy, NULL);
    ngx_yoti_idv_eval_response(200, json, strlen(json), &p.policy, NULL);
    ok(1, "NULL result does not crash");

    /* only type_len bytes of the type are read */
    policy_init(&p, "LIVENESS", NULL, NULL);
    p.reqs[0].type = "LIVENESSXYZ";
    p.reqs[0].type_len = 8;
    ngx_yoti_idv_eval_session(
        LIT("{\"state\":\"COMPLETED\",\"checks\":[{\"type\":\"LIVENESS\","
        "\"state\":\"DONE\",\"report\":{\"recommendation\":{\"value\":"
        "\"APPROVE\"}}}]}"), &p.policy, &res);
    expect("requirement type is not NUL-terminated", &res, ALLOW, "ok");

    /* the user id is compared over user_id_len bytes, not strlen */
    policy_init(&p, "", "alice", NULL);
    p.policy.user_id_len = 3;
    ngx_yoti_idv_eval_session(
        LIT("{\"state\":\"COMPLETED\",\"user_tracking_id\":\"ali\"}"),
        &p.policy, &res);
    expect("user id is not NUL-terminated", &res, ALLOW, "ok");
}


static void
test_helpers(void)
{
    ok(ngx_yoti_idv_valid_type("LIVENESS", 8), "valid_type LIVENESS");
    ok(ngx_yoti_idv_valid_type("A", 1), "valid_type 1 char");
    ok(ngx_yoti_idv_valid_type("ID_DOCUMENT_2", 13), "valid_type digits");
    ok(ngx_yoti_idv_valid_type(LONG_TYPE, 64), "valid_type 64 chars");
    ok(!ngx_yoti_idv_valid_type(LONG_TYPE "X", 65), "valid_type 65 chars");
    ok(!ngx_yoti_idv_valid_type("", 0), "valid_type empty");
    ok(!ngx_yoti_idv_valid_type(NULL, 3), "valid_type NULL");
    ok(!ngx_yoti_idv_valid_type("liveness", 8), "valid_type lower case");
    ok(!ngx_yoti_idv_valid_type("FACE-MATCH", 10), "valid_type dash");
    ok(!ngx_yoti_idv_valid_type("A B", 3), "valid_type space");
    ok(!ngx_yoti_idv_valid_type("AB\0C", 4), "valid_type NUL");
    ok(ngx_yoti_idv_valid_type("AB\0C", 2), "valid_type reads only len");

    ok(ngx_yoti_idv_default_mode("LIVENESS", 8) == NGX_YOTI_IDV_REQ_ANY,
       "default mode LIVENESS is any");
    ok(ngx_yoti_idv_default_mode("LIVENESSX", 8) == NGX_YOTI_IDV_REQ_ANY,
       "default mode reads only len");
    ok(ngx_yoti_idv_default_mode("LIVENESSX", 9) == NGX_YOTI_IDV_REQ_ALL,
       "default mode LIVENESSX is all");
    ok(ngx_yoti_idv_default_mode("LIVE", 4) == NGX_YOTI_IDV_REQ_ALL,
       "default mode LIVE is all");
    ok(ngx_yoti_idv_default_mode("FACE_COMPARISON", 15)
       == NGX_YOTI_IDV_REQ_ALL, "default mode FACE_COMPARISON is all");
    ok(ngx_yoti_idv_default_mode("IDENTITY_PROFILE", 16)
       == NGX_YOTI_IDV_REQ_ALL, "default mode IDENTITY_PROFILE is all");
    ok(ngx_yoti_idv_default_mode(NULL, 0) == NGX_YOTI_IDV_REQ_ALL,
       "default mode NULL is all");

    ok(ngx_yoti_idv_valid_session_id("7938ac1e-0a4a-49b7-953f-08cfa764358f",
                                     36), "session id uuid");
    ok(ngx_yoti_idv_valid_session_id("a", 1), "session id 1 char");
    ok(ngx_yoti_idv_valid_session_id(LONG_SID, 64), "session id 64 chars");
    ok(!ngx_yoti_idv_valid_session_id(LONG_SID "X", 65),
       "session id 65 chars");
    ok(!ngx_yoti_idv_valid_session_id("", 0), "session id empty");
    ok(!ngx_yoti_idv_valid_session_id(NULL, 1), "session id NULL");
    ok(!ngx_yoti_idv_valid_session_id("a/b", 3), "session id slash");
    ok(!ngx_yoti_idv_valid_session_id("..", 2), "session id dots");
    ok(!ngx_yoti_idv_valid_session_id("a%2f", 4), "session id percent");
    ok(!ngx_yoti_idv_valid_session_id("a_b", 3), "session id underscore");
    ok(!ngx_yoti_idv_valid_session_id("a?b", 3), "session id query");
    ok(!ngx_yoti_idv_valid_session_id("a b", 3), "session id space");
    ok(!ngx_yoti_idv_valid_session_id("a\0b", 3), "session id NUL");
    ok(!ngx_yoti_idv_valid_session_id("\xc3\xa9", 2), "session id UTF-8");

    ok(strcmp(ngx_yoti_idv_verdict_name(NGX_YOTI_IDV_ALLOW), "ALLOW") == 0,
       "verdict name ALLOW");
    ok(strcmp(ngx_yoti_idv_verdict_name(NGX_YOTI_IDV_DENY), "DENY") == 0,
       "verdict name DENY");
    ok(strcmp(ngx_yoti_idv_verdict_name(NGX_YOTI_IDV_PENDING), "PENDING")
       == 0, "verdict name PENDING");
    ok(strcmp(ngx_yoti_idv_verdict_name(NGX_YOTI_IDV_ERROR), "ERROR") == 0,
       "verdict name ERROR");
    ok(strcmp(ngx_yoti_idv_verdict_name((ngx_yoti_idv_verdict_e) 7), "ERROR")
       == 0, "verdict name out of range");
}


/* a session whose user_tracking_id is the given bytes (no NUL) */

static char *
session_for_user(const char *user)
{
    char   *json;
    cJSON  *root;

    root = cJSON_CreateObject();
    if (root == NULL
        || cJSON_AddStringToObject(root, "session_id", SID) == NULL
        || cJSON_AddStringToObject(root, "state", "COMPLETED") == NULL
        || cJSON_AddStringToObject(root, "user_tracking_id", user) == NULL)
    {
        abort();
    }

    json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);

    if (json == NULL) {
        abort();
    }

    return json;
}


static void
check_user(const char *name, const char *user, size_t len)
{
    int                     good;
    char                   *json, *other;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    other = malloc(len + 2);
    if (other == NULL) {
        abort();
    }

    memcpy(other, user, len);
    other[len] = '\0';

    json = session_for_user(other);

    policy_init(&p, "", NULL, SID);
    p.policy.user_id = user;
    p.policy.user_id_len = len;

    eval_exact(0, json, strlen(json), &p.policy, &res);
    expect(name, &res, ALLOW, "ok");

    good = 1;

    /* one byte changed, one byte short, one byte long */
    if (len != 0) {
        other[len - 1] = (char) (other[len - 1] == 'x' ? 'y' : 'x');
        p.policy.user_id = other;
        eval_exact(0, json, strlen(json), &p.policy, &res);
        good = good && res.verdict == DENY
               && strcmp(res.reason, "user_mismatch") == 0;

        p.policy.user_id = user;
        p.policy.user_id_len = len - 1;
        eval_exact(0, json, strlen(json), &p.policy, &res);
        good = good && res.verdict == DENY
               && strcmp(res.reason, "user_mismatch") == 0;
    }

    memcpy(other, user, len);
    other[len] = 'z';
    p.policy.user_id = other;
    p.policy.user_id_len = len + 1;
    eval_exact(0, json, strlen(json), &p.policy, &res);
    good = good && res.verdict == DENY
           && strcmp(res.reason, "user_mismatch") == 0;

    ok(good, "%s: changed, shorter, longer ids mismatch", name);

    cJSON_free(json);
    free(other);
}


static void
test_binary_users(void)
{
    char                    kib[1025], quotes[1025];
    size_t                  i;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    check_user("user with quotes", LIT("a\"b\"c\""));
    check_user("user with spaces", LIT("  John  Smith "));
    check_user("user with CR/LF", LIT("alice\r\nX-Injected: 1\r\n"));
    check_user("user with tab and backslash", LIT("a\tb\\c\\\\"));
    check_user("user with control bytes", LIT("\x01\x02\x1f\x7f"));
    check_user("user with UTF-8", LIT("J\xc3\xb6rg \xe2\x82\xac"));
    check_user("user with invalid UTF-8", LIT("\xff\xfe\x80\xc3"));
    check_user("user that looks like JSON", LIT("\",\"state\":\"COMPLETED"));
    check_user("one-byte user", LIT("a"));

    for (i = 0; i < 1024; i++) {
        kib[i] = (char) (1 + i % 255);
        quotes[i] = (i % 2) ? '"' : '\\';
    }

    kib[1024] = '\0';
    quotes[1024] = '\0';

    check_user("1 KiB user of every byte value but NUL", kib, 1024);
    check_user("1 KiB user of quotes and backslashes", quotes, 1024);

    /* a user id with a NUL never matches */
    policy_init(&p, "", NULL, NULL);
    p.policy.user_id = "ab\0cd";
    p.policy.user_id_len = 5;

    eval_exact(0, LIT("{\"state\":\"COMPLETED\",\"user_tracking_id\":\"ab\"}"),
               &p.policy, &res);
    expect("user id with NUL vs its prefix", &res, DENY, "user_mismatch");

    eval_exact(0, LIT("{\"state\":\"COMPLETED\",\"user_tracking_id\":"
                      "\"ab\\u0000cd\"}"), &p.policy, &res);
    expect("user id with NUL vs u0000", &res, ERROR, "provider:bad_json");

    p.policy.user_id_len = 2;
    eval_exact(0, LIT("{\"state\":\"COMPLETED\",\"user_tracking_id\":"
                      "\"ab\\u0000cd\"}"), &p.policy, &res);
    expect("u0000 cannot shorten user_tracking_id", &res, ERROR,
           "provider:bad_json");

    eval_exact(0, LIT("{\"state\":\"COMPLETED\","
                      "\"user_tracking_id\":\"ab\0cd\"}"), &p.policy, &res);
    expect("raw NUL in user_tracking_id", &res, ERROR, "provider:bad_json");

    eval_exact(0, LIT("{\"state\":\"COMPLETED\"}\0garbage"), &p.policy, &res);
    expect("raw NUL after the document", &res, ERROR, "provider:bad_json");
}


static char *
build_session_with_check(const char *seed, const char *check_json,
    const char *state)
{
    char   *json;
    cJSON  *root, *checks, *check;

    root = cJSON_Parse(seed);
    if (root == NULL) {
        abort();
    }

    if (check_json != NULL) {
        checks = cJSON_GetObjectItemCaseSensitive(root, "checks");
        check = cJSON_Parse(check_json);

        if (checks == NULL || check == NULL
            || !cJSON_ReplaceItemInArray(checks, 1, check))
        {
            abort();
        }
    }

    if (state != NULL
        && !cJSON_ReplaceItemInObjectCaseSensitive(root, "state",
                                                   cJSON_CreateString(state)))
    {
        abort();
    }

    json = cJSON_Print(root);
    cJSON_Delete(root);

    if (json == NULL) {
        abort();
    }

    return json;
}


static void
test_seed(void)
{
    char                   *seed, *match, *nomatch, *json, *spec, *p;
    size_t                  len, mlen, nlen, slen, i, bad;
    policy_t                pol;
    const char             *sid, *file;
    ngx_yoti_idv_result_t   res;

    static const char  *specs[] = {
        "fixtures/seed-session-spec-zoom.json",
        "fixtures/seed-session-spec-static.json"
    };

    sid = "7938ac1e-0a4a-49b7-953f-08cfa764358f";

    seed = slurp("fixtures/seed-face-check.json", &len);
    match = slurp("fixtures/seed-check-match.json", &mlen);
    nomatch = slurp("fixtures/seed-check-no-match.json", &nlen);

    if (!ok(seed != NULL && match != NULL && nomatch != NULL,
            "seed fixtures are readable (run from t/unit)"))
    {
        free(seed);
        free(match);
        free(nomatch);
        return;
    }

    policy_init(&pol, "LIVENESS", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: LIVENESS", &res, ALLOW, "ok");

    eval_exact(200, seed, len, &pol.policy, &res);
    expect("seed: LIVENESS via eval_response", &res, ALLOW, "ok");

    policy_init(&pol, "FAMILIAR_FACE_SEARCH", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: FAMILIAR_FACE_SEARCH", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");
    ok(contains(res.detail, "MATCH_FOUND")
       && contains(res.detail, "c9f2b0c0-df4d-472a-93cb-3f93c7ad9196"),
       "seed: FAMILIAR_FACE_SEARCH detail: %s", res.detail);

    policy_init(&pol, "FAMILIAR_FACE_SEARCH:any", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: FAMILIAR_FACE_SEARCH any", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");

    policy_init(&pol, "LIVENESS FAMILIAR_FACE_SEARCH", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: LIVENESS + FAMILIAR_FACE_SEARCH", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");

    policy_init(&pol, "FAMILIAR_FACE_SEARCH LIVENESS", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: FAMILIAR_FACE_SEARCH + LIVENESS", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");

    policy_init(&pol, "LIVENESS", "<YOUR_USER_ID>", sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: bind <YOUR_USER_ID>", &res, ALLOW, "ok");

    policy_init(&pol, "LIVENESS", "mallory", sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: bind mallory", &res, DENY, "user_mismatch");

    policy_init(&pol, "LIVENESS", "<YOUR_USER_ID> ", sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: bind with a trailing space", &res, DENY, "user_mismatch");

    policy_init(&pol, "", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: no requirements", &res, ALLOW, "ok");

    policy_init(&pol, "LIVENESS:all", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: LIVENESS all", &res, ALLOW, "ok");

    policy_init(&pol, "FACE_COMPARISON", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: FACE_COMPARISON", &res, DENY,
           "check:FACE_COMPARISON:missing");

    policy_init(&pol, "IDENTITY_PROFILE", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: IDENTITY_PROFILE", &res, DENY,
           "check:IDENTITY_PROFILE:missing");

    policy_init(&pol, "ID_DOCUMENT_TEXT_DATA_EXTRACTION", NULL, sid);
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: a task is not a check", &res, DENY,
           "check:ID_DOCUMENT_TEXT_DATA_EXTRACTION:missing");

    policy_init(&pol, "LIVENESS", NULL, "0b7e6a52-1c1e-4a3e-9a53-3f0f5d1d7a01");
    eval_exact(0, seed, len, &pol.policy, &res);
    expect("seed: another session id", &res, ERROR,
           "provider:session_mismatch");

    /* the MATCH example check, embedded in place of the REJECT one */
    json = build_session_with_check(seed, match, NULL);

    policy_init(&pol, "FAMILIAR_FACE_SEARCH", "<YOUR_USER_ID>", sid);
    eval_exact(0, json, strlen(json), &pol.policy, &res);
    expect("seed + MATCH: FAMILIAR_FACE_SEARCH", &res, ALLOW, "ok");

    policy_init(&pol, "LIVENESS FAMILIAR_FACE_SEARCH", "<YOUR_USER_ID>", sid);
    eval_exact(0, json, strlen(json), &pol.policy, &res);
    expect("seed + MATCH: LIVENESS + FAMILIAR_FACE_SEARCH", &res, ALLOW, "ok");

    cJSON_free(json);

    json = build_session_with_check(seed, nomatch, NULL);
    policy_init(&pol, "FAMILIAR_FACE_SEARCH", NULL, sid);
    eval_exact(0, json, strlen(json), &pol.policy, &res);
    expect("seed + NO MATCH: FAMILIAR_FACE_SEARCH", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");
    cJSON_free(json);

    json = build_session_with_check(seed, NULL, "ONGOING");
    policy_init(&pol, "LIVENESS", NULL, sid);
    eval_exact(0, json, strlen(json), &pol.policy, &res);
    expect("seed, ONGOING", &res, PENDING, "state:ONGOING");
    cJSON_free(json);

    json = build_session_with_check(seed, NULL, "EXPIRED");
    eval_exact(0, json, strlen(json), &pol.policy, &res);
    expect("seed, EXPIRED", &res, DENY, "state:EXPIRED");
    cJSON_free(json);

    /* a check object alone is not a session result: it names no session */
    eval_exact(0, match, mlen, &pol.policy, &res);
    expect("MATCH check alone", &res, ERROR, "provider:session_mismatch");

    /* trailing whitespace and garbage */
    json = malloc(len + 8);
    if (json == NULL) {
        abort();
    }

    memcpy(json, seed, len);
    memcpy(json + len, " \t\r\n", 4);
    eval_exact(0, json, len + 4, &pol.policy, &res);
    expect("seed + whitespace", &res, ALLOW, "ok");

    memcpy(json + len, "\n}", 2);
    eval_exact(0, json, len + 2, &pol.policy, &res);
    expect("seed + stray brace", &res, ERROR, "provider:bad_json");

    free(json);

    /* every proper prefix of the document */
    slen = len;

    while (slen > 0 && strchr(" \t\r\n", seed[slen - 1]) != NULL) {
        slen--;
    }

    policy_init(&pol, "LIVENESS FAMILIAR_FACE_SEARCH:any", "<YOUR_USER_ID>",
                sid);
    bad = 0;

    for (i = 0; i < slen; i++) {
        eval_exact(0, seed, i, &pol.policy, &res);

        if (!result_sane(&res) || res.verdict != ERROR
            || strcmp(res.reason, i ? "provider:bad_json" : "provider:empty")
               != 0)
        {
            if (bad++ == 0) {
                printf("# prefix %lu: %s %s\n", (unsigned long) i,
                       ngx_yoti_idv_verdict_name(res.verdict), res.reason);
            }
        }

        eval_exact(200, seed, i, &pol.policy, &res);

        if (!result_sane(&res) || res.verdict != ERROR) {
            bad++;
        }
    }

    ok(bad == 0, "all %lu truncated prefixes of the seed are errors",
       (unsigned long) slen);

    eval_exact(0, seed, slen, &pol.policy, &res);
    expect("seed trimmed of trailing whitespace", &res, DENY,
           "check:FAMILIAR_FACE_SEARCH:REJECT");

    /* the session creation specs of the liveness migration guide */
    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        file = specs[i];
        spec = slurp(file, &slen);

        if (!ok(spec != NULL, "%s is readable", file)) {
            continue;
        }

        eval_exact(0, spec, slen, &pol.policy, &res);
        expect(file, &res, ERROR, "provider:bad_json");

        /* without its trailing comma it is JSON, but not a result */
        p = strstr(spec, "},\n    ],");
        if (p != NULL) {
            memmove(p + 1, p + 2, strlen(p + 2) + 1);
        }

        eval_exact(0, spec, strlen(spec), &pol.policy, &res);
        ok(p != NULL && res.verdict == ERROR
           && strcmp(res.reason, "provider:bad_type") == 0
           && contains(res.detail, "state"),
           "%s without the trailing comma: bad_type (%s)", file, res.detail);

        free(spec);
    }

    free(seed);
    free(match);
    free(nomatch);
}


static void
test_nesting(void)
{
    char                   *json;
    size_t                  i, n, depth, len;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    static const size_t  depths[] = { 10, 500, 990, 1001, 5000, 200000 };

    policy_init(&p, "", NULL, NULL);

    for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        depth = depths[i];

        /* each level is at most 5 bytes open and 1 byte close */
        json = malloc(6 * depth + 64);
        if (json == NULL) {
            abort();
        }

        len = (size_t) sprintf(json, "{\"state\":\"COMPLETED\",\"x\":");

        for (n = 0; n < depth; n++) {
            if (n % 2) {
                json[len++] = '[';

            } else {
                memcpy(json + len, "{\"k\":", 5);
                len += 5;
            }
        }

        json[len++] = '1';

        for (n = depth; n > 0; n--) {
            json[len++] = ((n - 1) % 2) ? ']' : '}';
        }

        json[len++] = '}';

        eval_exact(0, json, len, &p.policy, &res);

        if (depth < 999) {
            expect("nested value in a session", &res, ALLOW, "ok");

        } else {
            ok(result_sane(&res) && res.verdict == ERROR
               && strcmp(res.reason, "provider:bad_json") == 0,
               "nesting %lu deep is refused: %s", (unsigned long) depth,
               res.reason);
        }

        free(json);
    }

    n = 1000000;
    json = malloc(n);
    if (json == NULL) {
        abort();
    }

    memset(json, '[', n);
    eval_exact(0, json, n, &p.policy, &res);
    expect("a million [", &res, ERROR, "provider:bad_json");

    memset(json, '{', n);
    eval_exact(0, json, n, &p.policy, &res);
    expect("a million {", &res, ERROR, "provider:bad_json");

    memset(json, '"', n);
    eval_exact(0, json, n, &p.policy, &res);
    expect("a million quotes", &res, ERROR, "provider:bad_json");

    memset(json, '\\', n);
    json[0] = '"';
    eval_exact(0, json, n, &p.policy, &res);
    expect("a million backslashes", &res, ERROR, "provider:bad_json");

    free(json);
}


static void
test_many_checks(void)
{
    char                   *json;
    size_t                  i, n, len, cap;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    static const char  rej[] = "{\"type\":\"LIVENESS\",\"state\":\"DONE\","
                               "\"report\":{\"recommendation\":"
                               "{\"value\":\"REJECT\"}}},";
    static const char  app[] = "{\"type\":\"LIVENESS\",\"state\":\"DONE\","
                               "\"report\":{\"recommendation\":"
                               "{\"value\":\"APPROVE\"}}}";

    n = 20000;
    cap = n * sizeof(rej) + 256;

    json = malloc(cap);
    if (json == NULL) {
        abort();
    }

    len = (size_t) sprintf(json, "{\"state\":\"COMPLETED\",\"checks\":[");

    for (i = 0; i < n; i++) {
        memcpy(json + len, rej, sizeof(rej) - 1);
        len += sizeof(rej) - 1;
    }

    memcpy(json + len, app, sizeof(app) - 1);
    len += sizeof(app) - 1;
    memcpy(json + len, "]}", 2);
    len += 2;

    policy_init(&p, "LIVENESS", NULL, NULL);
    eval_exact(0, json, len, &p.policy, &res);
    expect("20000 rejected retries, then an approval (any)", &res, ALLOW,
           "ok");

    policy_init(&p, "LIVENESS:all", NULL, NULL);
    eval_exact(0, json, len, &p.policy, &res);
    expect("20000 rejected retries, then an approval (all)", &res, DENY,
           "check:LIVENESS:REJECT");

    free(json);
}


typedef struct {
    const char                *file;
    const char                *reqs;
    const char                *user;
    ngx_yoti_idv_verdict_e     verdict;
    const char                *reason;
} mock_case_t;


#define FULL  "LIVENESS FACE_COMPARISON ID_DOCUMENT_AUTHENTICITY "          \
              "FAMILIAR_FACE_SEARCH IDENTITY_PROFILE"


static const mock_case_t  mock_cases[] = {
    { "face-check-ffs-reject", "LIVENESS", "alice", ALLOW, "ok" },
    { "face-check-ffs-reject", "FAMILIAR_FACE_SEARCH", "alice", DENY,
      "check:FAMILIAR_FACE_SEARCH:REJECT" },
    { "7938ac1e-0a4a-49b7-953f-08cfa764358f", "LIVENESS", "alice", ALLOW,
      "ok" },
    { "7938ac1e-0a4a-49b7-953f-08cfa764358f", "LIVENESS FAMILIAR_FACE_SEARCH",
      "alice", DENY, "check:FAMILIAR_FACE_SEARCH:REJECT" },
    { "verified-alice", FULL, "alice", ALLOW, "ok" },
    { "verified-alice", FULL, "bob", DENY, "user_mismatch" },
    { "verified-bob", FULL, "alice", DENY, "user_mismatch" },
    { "verified-bob", FULL, "bob", ALLOW, "ok" },
    { "liveness-all-reject", FULL, "alice", DENY, "check:LIVENESS:REJECT" },
    { "face-comparison-reject", FULL, "alice", DENY,
      "check:FACE_COMPARISON:REJECT" },
    { "face-comparison-not-available", FULL, "alice", DENY,
      "check:FACE_COMPARISON:NOT_AVAILABLE" },
    { "face-comparison-consider", FULL, "alice", DENY,
      "check:FACE_COMPARISON:CONSIDER" },
    { "face-comparison-missing", FULL, "alice", DENY,
      "check:FACE_COMPARISON:missing" },
    { "face-comparison-not-done", FULL, "alice", DENY,
      "check:FACE_COMPARISON:not_done" },
    { "two-face-comparisons-one-reject", "FACE_COMPARISON", "alice", DENY,
      "check:FACE_COMPARISON:REJECT" },
    { "two-face-comparisons-one-reject", "FACE_COMPARISON:any", "alice",
      ALLOW, "ok" },
    { "ongoing-alice", "LIVENESS", "alice", PENDING, "state:ONGOING" },
    { "expired-alice", FULL, "alice", DENY, "state:EXPIRED" },
    { "weird-state", FULL, "alice", DENY, "state:PAUSED" },
    { "no-user-tracking", FULL, "alice", DENY, "user_mismatch" },
    { "no-user-tracking", FULL, NULL, ALLOW, "ok" },
    { "unknown-check-type", FULL, "alice", ALLOW, "ok" },
    { "unknown-check-type", "BRAND_NEW_CHECK", "alice", ALLOW, "ok" },
    { "identity-profile-failed", "IDENTITY_PROFILE", "alice", DENY,
      "check:IDENTITY_PROFILE:MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED" },
    { "identity-profile-done-with-failure", "IDENTITY_PROFILE", "alice", DENY,
      "check:IDENTITY_PROFILE:MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED" },
    { "bad-type-checks", "LIVENESS", "alice", ERROR, "provider:bad_type" },
    { "bad-type-state", "LIVENESS", "alice", ERROR, "provider:bad_type" },
    { "bad-type-check-item", "LIVENESS", "alice", ERROR,
      "provider:bad_type" },
    { "bad-type-user-tracking", "LIVENESS", "alice", DENY, "user_mismatch" },
    { "not-an-object", "LIVENESS", "alice", ERROR, "provider:bad_type" },
    { "session-id-mismatch", "LIVENESS", "alice", ERROR,
      "provider:session_mismatch" },
};


/* the mock API's fixtures (t/mock/sessions), when present */

static void
test_mock_sessions(void)
{
    char                    path[256], name[160];
    char                   *json;
    size_t                  i, len;
    policy_t                p;
    ngx_yoti_idv_result_t   res;

    for (i = 0; i < sizeof(mock_cases) / sizeof(mock_cases[0]); i++) {
        snprintf(path, sizeof(path), "../mock/sessions/%s.json",
                 mock_cases[i].file);
        snprintf(name, sizeof(name), "mock %s [%s] user %s",
                 mock_cases[i].file, mock_cases[i].reqs,
                 mock_cases[i].user ? mock_cases[i].user : "-");

        json = slurp(path, &len);

        if (json == NULL) {
            ok(1, "%s # SKIP no %s", name, path);
            continue;
        }

        policy_init(&p, mock_cases[i].reqs, mock_cases[i].user,
                    mock_cases[i].file);

        eval_exact(200, json, len, &p.policy, &res);
        expect(name, &res, mock_cases[i].verdict, mock_cases[i].reason);

        free(json);
    }
}


/* requirements on the resources a check used, and the age */

#define LCAP(id, t)                                                          \
    "{'id':'" id "','liveness_type':'" t "'}"

#define IDDOC(id, t, c, mid)                                                 \
    "{'id':'" id "','document_type':'" t "','issuing_country':'" c "',"    \
    "'document_fields':{'media':{'id':'" mid "','type':'JSON'}}}"

#define CHKU(t, v, used)                                                     \
    "{'type':'" t "','id':'id-" t "','state':'DONE','resources_used':["    \
    used "],'report':{'recommendation':{'value':'" v "'}}}"

#define SESSR(checks, liv, docs)                                             \
    "{'session_id':'" SID "','user_tracking_id':'alice','state':"          \
    "'COMPLETED','checks':[" checks "],'resources':{'liveness_capture':["  \
    liv "],'id_documents':[" docs "]}}"

#define ZOOM_REJ_STATIC_OK                                                   \
    SESSR(CHKU("LIVENESS", "REJECT", "'l1'") ","                            \
          CHKU("LIVENESS", "APPROVE", "'l2'"),                               \
          LCAP("l1", "ZOOM") "," LCAP("l2", "STATIC"), "")

#define ZOOM_OK_STATIC_REJ                                                   \
    SESSR(CHKU("LIVENESS", "APPROVE", "'l1'") ","                           \
          CHKU("LIVENESS", "REJECT", "'l2'"),                                \
          LCAP("l1", "ZOOM") "," LCAP("l2", "STATIC"), "")

#define DOCS                                                                 \
    IDDOC("d1", "DRIVING_LICENCE", "USA", "m-usa") ","                      \
    IDDOC("d2", "PASSPORT", "GBR", "m-gbr")

#define AUTH(v, used)  CHKU("ID_DOCUMENT_AUTHENTICITY", v, used)


typedef struct {
    const char                *name;
    const char                *json;
    const char                *type;
    int                        mode;       /* 0: the type's default */
    const char                *liveness;
    const char                *documents;
    const char                *countries;
    unsigned                   age;
    ngx_yoti_idv_verdict_e     verdict;
    const char                *reason;
    const char                *media_id;   /* NULL: "" */
} req_case_t;


static const req_case_t  req_cases[] = {

    { "STATIC only: ZOOM rejected, STATIC approved", ZOOM_REJ_STATIC_OK,
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, ALLOW, "ok", NULL },
    { "ZOOM only: ZOOM rejected, STATIC approved", ZOOM_REJ_STATIC_OK,
      "LIVENESS", 0, "ZOOM", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:STATIC", NULL },
    { "STATIC only: ZOOM approved, STATIC rejected", ZOOM_OK_STATIC_REJ,
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:ZOOM", NULL },
    { "ZOOM only: ZOOM approved", ZOOM_OK_STATIC_REJ,
      "LIVENESS", 0, "ZOOM", NULL, NULL, 0, ALLOW, "ok", NULL },
    { "either method", ZOOM_OK_STATIC_REJ,
      "LIVENESS", 0, "ZOOM,STATIC", NULL, NULL, 0, ALLOW, "ok", NULL },
    { "all STATIC: the STATIC one rejected", ZOOM_OK_STATIC_REJ,
      "LIVENESS", NGX_YOTI_IDV_REQ_ALL, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:REJECT", NULL },
    { "all STATIC: the ZOOM rejection does not count", ZOOM_REJ_STATIC_OK,
      "LIVENESS", NGX_YOTI_IDV_REQ_ALL, "STATIC", NULL, NULL, 0, ALLOW,
      "ok", NULL },
    { "a liveness type the module does not know",
      SESSR(CHKU("LIVENESS", "APPROVE", "'l1'"), LCAP("l1", "NEW_KIND"), ""),
      "LIVENESS", 0, "STATIC,NEW_KIND", NULL, NULL, 0, ALLOW, "ok", NULL },
    { "liveness check without resources_used",
      SESSR(CHK("LIVENESS", "DONE", "APPROVE"), LCAP("l1", "STATIC"), ""),
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:none", NULL },
    { "liveness resource not in liveness_capture",
      SESSR(CHKU("LIVENESS", "APPROVE", "'l9'"), LCAP("l1", "STATIC"), ""),
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:none", NULL },
    { "liveness_type not a string",
      SESSR(CHKU("LIVENESS", "APPROVE", "'l1'"),
            "{'id':'l1','liveness_type':7}", ""),
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:other", NULL },
    { "duplicate resources: none trusted",
      "{'session_id':'" SID "','user_tracking_id':'alice','state':"
      "'COMPLETED','checks':[" CHKU("LIVENESS", "APPROVE", "'l1'") "],"
      "'resources':{'liveness_capture':[" LCAP("l1", "STATIC") "]},"
      "'resources':{'liveness_capture':[" LCAP("l1", "STATIC") "]}}",
      "LIVENESS", 0, "STATIC", NULL, NULL, 0, DENY,
      "check:LIVENESS:liveness_type:none", NULL },

    { "UK documents: the GBR passport approved",
      SESSR(AUTH("APPROVE", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, "PASSPORT,DRIVING_LICENCE",
      "GBR,IRL", 0, ALLOW, "ok", NULL },
    { "UK documents: a USA licence",
      SESSR(AUTH("APPROVE", "'d1'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, "GBR,IRL", 0, DENY,
      "check:ID_DOCUMENT_AUTHENTICITY:issuing_country:USA", NULL },
    { "passports only: a driving licence",
      SESSR(AUTH("APPROVE", "'d1'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, "PASSPORT", NULL, 0, DENY,
      "check:ID_DOCUMENT_AUTHENTICITY:document_type:DRIVING_LICENCE", NULL },
    { "all: USA approved, GBR rejected; only GBR counts",
      SESSR(AUTH("APPROVE", "'d1'") "," AUTH("REJECT", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, "GBR", 0, DENY,
      "check:ID_DOCUMENT_AUTHENTICITY:REJECT", NULL },
    { "all: USA rejected does not count, GBR approved",
      SESSR(AUTH("REJECT", "'d1'") "," AUTH("APPROVE", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, "GBR", 0, ALLOW, "ok",
      NULL },
    { "FACE_COMPARISON used a liveness and a GBR document",
      SESSR(CHKU("FACE_COMPARISON", "APPROVE", "'l1','d2'"),
            LCAP("l1", "STATIC"), DOCS),
      "FACE_COMPARISON", 0, NULL, NULL, "GBR", 0, ALLOW, "ok", NULL },
    { "FACE_COMPARISON used no document",
      SESSR(CHKU("FACE_COMPARISON", "APPROVE", "'l1'"),
            LCAP("l1", "STATIC"), DOCS),
      "FACE_COMPARISON", 0, NULL, NULL, "GBR", 0, DENY,
      "check:FACE_COMPARISON:document:none", NULL },
    { "document without issuing_country",
      SESSR(AUTH("APPROVE", "'d3'"), "",
            "{'id':'d3','document_type':'PASSPORT'}"),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, "PASSPORT", "GBR", 0, DENY,
      "check:ID_DOCUMENT_AUTHENTICITY:issuing_country:other", NULL },

    { "18+: the media to read",
      SESSR(AUTH("APPROVE", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, NULL, 18, ERROR,
      "internal:age_unchecked", "m-gbr" },
    { "18+: the accepted document's media, not the first",
      SESSR(AUTH("APPROVE", "'d1'") "," AUTH("APPROVE", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, "GBR", 18, ERROR,
      "internal:age_unchecked", "m-gbr" },
    { "18+: a rejected authenticity check denies first",
      SESSR(AUTH("REJECT", "'d2'"), "", DOCS),
      "ID_DOCUMENT_AUTHENTICITY", 0, NULL, NULL, NULL, 18, DENY,
      "check:ID_DOCUMENT_AUTHENTICITY:REJECT", NULL },
    { "18+: no authenticity check at all",
      SESSR(CHKU("LIVENESS", "APPROVE", "'l1'"), LCAP("l1", "STATIC"), DOCS),
      "LIVENESS", 0, NULL, NULL, NULL, 18, DENY, "age:no_document", NULL },
    { "18+: approved check used no document",
      SESSR(AUTH("APPROVE", "'zz'"), "", DOCS),
      "LIVENESS", 0, NULL, NULL, NULL, 18, DENY, "check:LIVENESS:missing",
      NULL },
    { "18+ without requirements: approved check used no document",
      SESSR(AUTH("APPROVE", "'zz'"), "", DOCS),
      NULL, 0, NULL, NULL, NULL, 18, DENY, "age:no_document", NULL },
    { "18+: the document has no document_fields",
      SESSR(AUTH("APPROVE", "'d3'"), "",
            "{'id':'d3','document_type':'PASSPORT','issuing_country':'GBR'}"),
      NULL, 0, NULL, NULL, NULL, 18, DENY, "age:no_fields", NULL },
    { "18+: document_fields without a media id",
      SESSR(AUTH("APPROVE", "'d3'"), "",
            "{'id':'d3','document_fields':{'media':{}}}"),
      NULL, 0, NULL, NULL, NULL, 18, DENY, "age:no_fields", NULL },
    { "18+: a media id that could not go in a URI",
      SESSR(AUTH("APPROVE", "'d3'"), "",
            "{'id':'d3','document_fields':{'media':{'id':'../x'}}}"),
      NULL, 0, NULL, NULL, NULL, 18, ERROR, "provider:bad_type", NULL },
    { "18+: a pending session is pending",
      "{'session_id':'" SID "','user_tracking_id':'alice','state':"
      "'ONGOING','checks':[]}",
      NULL, 0, NULL, NULL, NULL, 18, PENDING, "state:ONGOING", NULL },
};


static void
test_requirements(void)
{
    char                   *json;
    policy_t                p;
    const req_case_t       *t;
    ngx_yoti_idv_req_t     *req;
    ngx_yoti_idv_result_t   res;
    size_t                  i;

    for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        t = &req_cases[i];

        policy_init(&p, "", "alice", SID);

        if (t->type) {
            req = &p.reqs[0];
            req->type = t->type;
            req->type_len = strlen(t->type);
            req->mode = t->mode ? t->mode
                                : ngx_yoti_idv_default_mode(t->type,
                                                            req->type_len);
            req->liveness_types = t->liveness;
            req->liveness_types_len = t->liveness ? strlen(t->liveness) : 0;
            req->document_types = t->documents;
            req->document_types_len = t->documents ? strlen(t->documents)
                                                   : 0;
            req->countries = t->countries;
            req->countries_len = t->countries ? strlen(t->countries) : 0;
            p.policy.nreqs = 1;
        }

        p.policy.age = t->age;
        p.policy.today_year = 2026;
        p.policy.today_month = 12;
        p.policy.today_day = 1;

        json = dq(t->json);
        eval_exact(0, json, strlen(json), &p.policy, &res);

        if (expect(t->name, &res, t->verdict, t->reason)) {
            ok(strcmp(res.media_id, t->media_id ? t->media_id : "") == 0,
               "%s: media id \"%s\"", t->name, res.media_id);
        }

        free(json);
    }
}


typedef struct {
    const char                *name;
    int                        status;
    const char                *json;
    unsigned                   age;
    int                        y, m, d;     /* today */
    ngx_yoti_idv_verdict_e     verdict;
    const char                *reason;
    long                       days;
} media_case_t;


#define DOB(s)                                                               \
    "{'full_name':'A B','date_of_birth':'" s "','nationality':'GBR'}"


static const media_case_t  media_cases[] = {

    { "18th birthday today", 200, DOB("2008-12-01"), 18, 2026, 12, 1,
      ALLOW, "ok", 0 },
    { "18th birthday tomorrow", 200, DOB("2008-12-02"), 18, 2026, 12, 1,
      DENY, "age:underage", 1 },
    { "18th birthday yesterday", 200, DOB("2008-11-30"), 18, 2026, 12, 1,
      ALLOW, "ok", 0 },
    { "over the year end", 200, DOB("2009-01-01"), 18, 2026, 12, 31,
      DENY, "age:underage", 1 },
    { "much older", 200, DOB("1950-06-15"), 18, 2026, 12, 1, ALLOW, "ok",
      0 },
    { "yyyy-mm: the last day of the month", 200, DOB("2008-12"), 18,
      2026, 12, 30, DENY, "age:underage", 1 },
    { "yyyy-mm: of age on the month's last day", 200, DOB("2008-12"), 18,
      2026, 12, 31, ALLOW, "ok", 0 },
    { "yyyy-mm February of a leap year", 200, DOB("2008-02"), 18,
      2026, 2, 28, DENY, "age:underage", 1 },
    { "yyyy: 31 December", 200, DOB("2008"), 18, 2026, 12, 30,
      DENY, "age:underage", 1 },
    { "yyyy: of age on 31 December", 200, DOB("2008"), 18, 2026, 12, 31,
      ALLOW, "ok", 0 },
    { "29 February: 1 March in a common year", 200, DOB("2008-02-29"), 18,
      2026, 2, 28, DENY, "age:underage", 1 },
    { "29 February: of age on 1 March", 200, DOB("2008-02-29"), 18,
      2026, 3, 1, ALLOW, "ok", 0 },
    { "29 February: 29 February in a leap year", 200, DOB("2004-02-29"),
      20, 2024, 2, 29, ALLOW, "ok", 0 },
    { "29 February: not the 28th in a leap year", 200, DOB("2004-02-29"),
      20, 2024, 2, 28, DENY, "age:underage", 1 },
    { "today is 29 February", 200, DOB("2006-03-01"), 18, 2024, 2, 29,
      DENY, "age:underage", 1 },
    { "a year and a day", 200, DOB("2009-12-02"), 18, 2026, 12, 1,
      DENY, "age:underage", 366 },
    { "born in the future", 200, DOB("2030-01-01"), 1, 2026, 12, 1,
      DENY, "age:underage", 1492 },
    { "age 150", 200, DOB("1876-12-01"), 150, 2026, 12, 1, ALLOW, "ok", 0 },
    { "no date_of_birth", 200, "{'full_name':'A B'}", 18, 2026, 12, 1,
      DENY, "age:no_date", 0 },
    { "null date_of_birth", 200, "{'date_of_birth':null}", 18, 2026, 12, 1,
      DENY, "age:no_date", 0 },
    { "numeric date_of_birth", 200, "{'date_of_birth':20081201}", 18,
      2026, 12, 1, DENY, "age:bad_date", 0 },
    { "dd/mm/yyyy", 200, DOB("01/12/2008"), 18, 2026, 12, 1,
      DENY, "age:bad_date", 0 },
    { "month 13", 200, DOB("2008-13-01"), 18, 2026, 12, 1,
      DENY, "age:bad_date", 0 },
    { "30 February", 200, DOB("2008-02-30"), 18, 2026, 12, 1,
      DENY, "age:bad_date", 0 },
    { "29 February of a common year", 200, DOB("2007-02-29"), 18,
      2026, 12, 1, DENY, "age:bad_date", 0 },
    { "year 0", 200, DOB("0000-01-01"), 18, 2026, 12, 1,
      DENY, "age:bad_date", 0 },
    { "a time after the date", 200, DOB("2008-12-01T00:00:00Z"), 18,
      2026, 12, 1, DENY, "age:bad_date", 0 },
    { "empty date", 200, DOB(""), 18, 2026, 12, 1, DENY, "age:bad_date", 0 },
    { "date_of_birth twice", 200,
      "{'date_of_birth':'1950-01-01','date_of_birth':'2020-01-01'}", 18,
      2026, 12, 1, ERROR, "media:bad_type", 0 },
    { "not an object", 200, "['1950-01-01']", 18, 2026, 12, 1,
      ERROR, "media:bad_type", 0 },
    { "not JSON", 200, "date_of_birth=1950-01-01", 18, 2026, 12, 1,
      ERROR, "media:bad_json", 0 },
    { "empty 200", 200, "", 18, 2026, 12, 1, ERROR, "media:empty", 0 },
    { "204 no content", 204, "", 18, 2026, 12, 1, DENY, "age:no_date", 0 },
    { "404", 404, "{'code':'NOT_FOUND','message':'media not found'}", 18,
      2026, 12, 1, ERROR, "media:404", 0 },
    { "500", 500, "", 18, 2026, 12, 1, ERROR, "media:500", 0 },
    { "no age in the policy", 200, DOB("1950-01-01"), 0, 2026, 12, 1,
      ERROR, "internal:bad_policy", 0 },
    { "age 151", 200, DOB("1850-01-01"), 151, 2026, 12, 1,
      ERROR, "internal:bad_policy", 0 },
    { "today 31 November", 200, DOB("1950-01-01"), 18, 2026, 11, 31,
      ERROR, "internal:bad_policy", 0 },
};


static char *
strndup_or_die(const char *s, size_t n, char *buf)
{
    if (n >= 64) {
        abort();
    }

    memcpy(buf, s, n);
    buf[n] = '\0';

    return buf;
}


static void
test_media(void)
{
    char                   *json, *buf, name[64];
    size_t                  i, len;
    policy_t                p;
    const char             *dob, *end;
    const media_case_t     *t;
    ngx_yoti_idv_result_t   res;

    for (i = 0; i < sizeof(media_cases) / sizeof(media_cases[0]); i++) {
        t = &media_cases[i];

        policy_init(&p, "", "alice", SID);
        p.policy.age = t->age;
        p.policy.today_year = t->y;
        p.policy.today_month = t->m;
        p.policy.today_day = t->d;

        json = dq(t->json);
        len = strlen(json);

        buf = malloc(len ? len : 1);
        if (buf == NULL) {
            abort();
        }

        memcpy(buf, json, len);
        memset(&res, 0x5a, sizeof(res));

        ngx_yoti_idv_eval_media(t->status, buf, len, &p.policy, &res);

        if (expect(t->name, &res, t->verdict, t->reason)) {
            ok(res.age_days == t->days && res.media_id[0] == '\0',
               "%s: %ld days to go", t->name, res.age_days);
        }

        /* nothing of the document reaches the log line */
        dob = strstr(t->json, "'date_of_birth':'");
        dob = dob ? dob + sizeof("'date_of_birth':'") - 1 : NULL;
        end = dob ? strchr(dob, '\'') : NULL;

        ok(strstr(res.detail, "A B") == NULL
           && (end == NULL || end == dob
               || strstr(res.detail,
                         strndup_or_die(dob, (size_t) (end - dob), name))
                  == NULL),
           "%s: no document data in the detail", t->name);

        free(buf);
        free(json);
    }
}


static void
test_lists(void)
{
    ok(ngx_yoti_idv_valid_list(LIT("STATIC"), 0), "list STATIC");
    ok(ngx_yoti_idv_valid_list(LIT("ZOOM,STATIC"), 0), "list ZOOM,STATIC");
    ok(ngx_yoti_idv_valid_list(LIT("NEW_TYPE_2"), 0), "list NEW_TYPE_2");
    ok(ngx_yoti_idv_valid_list(LIT(TOKEN32), 0), "list of 32 characters");
    ok(!ngx_yoti_idv_valid_list(LIT(TOKEN33), 0), "not 33 characters");
    ok(!ngx_yoti_idv_valid_list(LIT(""), 0), "not empty");
    ok(!ngx_yoti_idv_valid_list(NULL, 0, 0), "not NULL");
    ok(!ngx_yoti_idv_valid_list(LIT("ZOOM,"), 0), "no empty last item");
    ok(!ngx_yoti_idv_valid_list(LIT(",ZOOM"), 0), "no empty first item");
    ok(!ngx_yoti_idv_valid_list(LIT("ZOOM,,STATIC"), 0), "no empty item");
    ok(!ngx_yoti_idv_valid_list(LIT("static"), 0), "no lowercase");
    ok(!ngx_yoti_idv_valid_list(LIT("ZOOM STATIC"), 0), "no space");
    ok(!ngx_yoti_idv_valid_list(LIT("ZO-OM"), 0), "no dash");
    ok(ngx_yoti_idv_valid_list(LIT("GBR,IRL"), 1), "countries GBR,IRL");
    ok(!ngx_yoti_idv_valid_list(LIT("GB"), 1), "no two-letter country");
    ok(!ngx_yoti_idv_valid_list(LIT("GBRX"), 1), "no four-letter country");
    ok(!ngx_yoti_idv_valid_list(LIT("GB1"), 1), "no digit in a country");
    ok(!ngx_yoti_idv_valid_list(LIT("gbr"), 1), "no lowercase country");
    ok(!ngx_yoti_idv_valid_list(LIT("GBR,"), 1), "no empty country");
    ok(!ngx_yoti_idv_uses_document(LIT("LIVENESS")), "LIVENESS: no document");
    ok(!ngx_yoti_idv_uses_document(LIT("IDENTITY_PROFILE")),
       "IDENTITY_PROFILE: no document");
    ok(ngx_yoti_idv_uses_document(LIT("ID_DOCUMENT_FACE_MATCH")),
       "ID_DOCUMENT_FACE_MATCH: a document");
    ok(ngx_yoti_idv_uses_document(LIT("BRAND_NEW_CHECK")),
       "an unknown type may use a document");
}


int
main(void)
{
    test_helpers();
    test_table();
    test_session_absent();
    test_details();
    test_policy();
    test_binary_users();
    test_seed();
    test_nesting();
    test_many_checks();
    test_mock_sessions();
    test_requirements();
    test_media();
    test_lists();

    return tap_done();
}
