#!/usr/bin/python3
"""Regenerate the derived session fixtures in t/mock/sessions/.

The fixtures are committed; this script only documents how they were made
and rebuilds them after an edit.  Everything derives from
sessions/face-check-ffs-reject.json, which is the "Full JSON" example of
Yoti's "Retrieve results" page (Face Check) verbatim, except that
user_tracking_id is "alice" and session_id equals the file name.  The
FAMILIAR_FACE_SEARCH APPROVE check is the page's "MATCH" example.

Every fixture's session_id equals its file name (the module refuses a
result for another session), except session-id-mismatch.json.

Usage: /usr/bin/python3 t/mock/gen_sessions.py   (from anywhere)
"""

import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS = os.path.join(HERE, "sessions")

LIVENESS_RESOURCE_1 = "6d2b8f4e-1a3c-4e5f-8b7a-9c0d1e2f3a4b"  # 1st attempt
LIVENESS_RESOURCE_2 = "e3d4ce28-4291-4dd4-a650-33fd5c3b0e0f"  # seed's
DOCUMENT_RESOURCE = "02ffe8d4-5f4a-4aaa-a046-21593944e05f"    # seed's

# The "MATCH" tab of the seed page, verbatim.
FFS_MATCH = {
    "type": "FAMILIAR_FACE_SEARCH",
    "id": "bc3caac1-e091-4958-8f05-8763076a6976",
    "state": "DONE",
    "resources_used": ["34590c66-0099-4521-b1d7-391bd5ec4e98"],
    "generated_media": [],
    "report": {
        "recommendation": {"value": "APPROVE"},
        "breakdown": [{
            "sub_check": "face_found_in_pool",
            "result": "PASS",
            "details": [
                {"name": "matching_pool",
                 "value": "a8b2e5de-a31f-4e82-b2ac-557a492fa88e"},
                {"name": "matching_applicant",
                 "value": "b1ac68ca-c692-449f-b6cc-1ee7c0d366ea"},
            ],
            "process": "AUTOMATED",
        }],
    },
    "created": "2025-06-25T14:17:29Z",
    "last_updated": "2025-06-25T14:17:32Z",
    "config": {
        "pool_id": "a8b2e5de-a31f-4e82-b2ac-557a492fa88e",
        "pool_label": "Test Pool2",
        "approval_criteria": "MATCH",
    },
}


def check(ctype, cid, value, resources, reason=None, sub_checks=(),
          created="2025-06-04T08:51:10Z", updated="2025-06-04T08:51:12Z"):
    """A DONE check with a report, shaped like the seed's checks."""
    rec = {"value": value}
    if reason:
        rec["reason"] = reason
    result = "PASS" if value == "APPROVE" else "FAIL"
    return {
        "type": ctype,
        "id": cid,
        "state": "DONE",
        "resources_used": list(resources),
        "generated_media": [],
        "report": {
            "recommendation": rec,
            "breakdown": [{"sub_check": s, "result": result, "details": [],
                           "process": "AUTOMATED"} for s in sub_checks],
        },
        "created": created,
        "last_updated": updated,
    }


def liveness(cid, value, resource, reason=None, created="2025-06-04T08:51:00Z",
             updated="2025-06-04T08:51:02Z"):
    return check("LIVENESS", cid, value, [resource], reason,
                 ("face_processing", "liveness_auth",
                  "payload_signature_verification"), created, updated)


def face_comparison(cid, value, reason=None):
    return check("FACE_COMPARISON", cid, value,
                 [LIVENESS_RESOURCE_2, DOCUMENT_RESOURCE], reason,
                 ("ai_face_match",), "2025-06-04T08:51:06Z",
                 "2025-06-04T08:51:08Z")


def load(name):
    with open(os.path.join(SESSIONS, name + ".json")) as f:
        return json.load(f)


def save(name, doc):
    with open(os.path.join(SESSIONS, name + ".json"), "w") as f:
        f.write(json.dumps(doc, indent=4) + "\n")


def with_id(doc, sid):
    doc = copy.deepcopy(doc)
    doc["session_id"] = sid
    return doc


def checks_of(doc, ctype):
    return [c for c in doc["checks"] if c["type"] == ctype]


def main():
    seed = load("face-check-ffs-reject")
    seed_liveness = copy.deepcopy(seed["checks"][0])
    assert seed_liveness["type"] == "LIVENESS"

    # verified-alice: everything a strict policy can ask for, with one
    # rejected liveness attempt before the approved one.
    v = with_id(seed, "verified-alice")
    first_attempt = copy.deepcopy(v["resources"]["liveness_capture"][0])
    first_attempt["id"] = LIVENESS_RESOURCE_1
    first_attempt["created_at"] = "2025-06-04T08:50:44Z"
    first_attempt["last_updated"] = "2025-06-04T08:50:50Z"
    first_attempt["image"]["media"].update({
        "id": "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b",
        "created": "2025-06-04T08:50:50Z",
        "last_updated": "2025-06-04T08:50:50Z",
    })
    v["resources"]["liveness_capture"].insert(0, first_attempt)
    v["checks"] = [
        liveness("1f6e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "REJECT",
                 LIVENESS_RESOURCE_1, "LIVENESS_FAILED",
                 "2025-06-04T08:50:50Z", "2025-06-04T08:50:52Z"),
        seed_liveness,
        face_comparison("5f3b0d61-2c7e-4a8f-9d14-6b2e8c1a7f30", "APPROVE"),
        check("ID_DOCUMENT_AUTHENTICITY",
              "1b97f98a-7ec8-49b4-8054-719592f04db3", "APPROVE",
              [DOCUMENT_RESOURCE], None,
              ("document_in_date", "no_sign_of_tampering",
               "no_signs_of_forgery"),
              "2025-06-04T08:50:40Z", "2025-06-04T08:50:49Z"),
        copy.deepcopy(FFS_MATCH),
    ]
    v["identity_profile"] = {"subject_id": "x", "result": "DONE"}
    save("verified-alice", v)

    bob = with_id(v, "verified-bob")
    bob["user_tracking_id"] = "bob"
    save("verified-bob", bob)

    d = with_id(v, "liveness-all-reject")
    for c in checks_of(d, "LIVENESS"):
        c["report"]["recommendation"] = {"value": "REJECT",
                                         "reason": "LIVENESS_FAILED"}
        for b in c["report"]["breakdown"]:
            b["result"] = "FAIL"
    save("liveness-all-reject", d)

    for name, value, reason in (
            ("face-comparison-reject", "REJECT", "FACE_NOT_GENUINE"),
            ("face-comparison-not-available", "NOT_AVAILABLE",
             "POOR_QUALITY"),
            ("face-comparison-consider", "CONSIDER", "MANUAL_REVIEW")):
        d = with_id(v, name)
        fc = checks_of(d, "FACE_COMPARISON")[0]
        fc["report"]["recommendation"] = {"value": value, "reason": reason}
        fc["report"]["breakdown"][0]["result"] = "FAIL"
        save(name, d)

    d = with_id(v, "face-comparison-missing")
    d["checks"] = [c for c in d["checks"] if c["type"] != "FACE_COMPARISON"]
    save("face-comparison-missing", d)

    d = with_id(v, "face-comparison-not-done")
    fc = checks_of(d, "FACE_COMPARISON")[0]
    fc["state"] = "PENDING"
    del fc["report"]
    save("face-comparison-not-done", d)

    d = with_id(v, "two-face-comparisons-one-reject")
    i = d["checks"].index(checks_of(d, "FACE_COMPARISON")[0])
    d["checks"].insert(i + 1, face_comparison(
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "REJECT",
        "FACE_NOT_GENUINE"))
    save("two-face-comparisons-one-reject", d)

    d = with_id(seed, "ongoing-alice")
    d["state"] = "ONGOING"
    d["checks"] = [copy.deepcopy(seed_liveness)]
    save("ongoing-alice", d)

    d = with_id(v, "expired-alice")
    d["state"] = "EXPIRED"
    save("expired-alice", d)

    d = with_id(v, "weird-state")
    d["state"] = "PAUSED"
    save("weird-state", d)

    d = with_id(v, "no-user-tracking")
    del d["user_tracking_id"]
    save("no-user-tracking", d)

    d = with_id(v, "unknown-check-type")
    d["checks"].append(check("BRAND_NEW_CHECK",
                             "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d",
                             "APPROVE", [LIVENESS_RESOURCE_2], None,
                             ("something_new",)))
    save("unknown-check-type", d)

    failure = {
        "reason_code": "MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED",
        "requirements_not_met_details": [{
            "failure_type": "ID_DOCUMENT_AUTHENTICITY",
            "document_type": "PASSPORT",
            "document_country_iso_code": "GBR",
            "audit_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            "details": "NOT_GENUINE",
        }],
    }
    d = with_id(v, "identity-profile-failed")
    d["identity_profile"] = {"subject_id": "x", "result": "FAIL",
                             "failure_reason": failure}
    save("identity-profile-failed", d)

    d = with_id(v, "identity-profile-done-with-failure")
    d["identity_profile"] = {"subject_id": "x", "result": "DONE",
                             "failure_reason": failure}
    save("identity-profile-done-with-failure", d)

    # Wrong JSON types where the module expects an array/string/object.
    d = with_id(v, "bad-type-checks")
    d["checks"] = {c["type"]: c for c in d["checks"]}
    save("bad-type-checks", d)

    d = with_id(v, "bad-type-state")
    d["state"] = 3
    save("bad-type-state", d)

    d = with_id(v, "bad-type-check-item")
    d["checks"].insert(2, "FACE_COMPARISON")
    save("bad-type-check-item", d)

    d = with_id(v, "bad-type-user-tracking")
    d["user_tracking_id"] = 42
    save("bad-type-user-tracking", d)

    save("not-an-object", [with_id(v, "not-an-object")])

    # A perfectly good result, but for another session.
    save("session-id-mismatch", with_id(v, "verified-alice"))


if __name__ == "__main__":
    main()
