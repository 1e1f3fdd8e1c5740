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

       /usr/bin/python3 t/mock/gen_sessions.py --requirements DIR [--today D]

The second form writes, into DIR, every committed fixture plus the ones of
t/010-requirements.t and `make demo`: liveness methods, documents, and dates
of birth relative to today (UTC, or D as yyyy-mm-dd), with their document
fields media in DIR/media/<session id>/<media id>.json.  They are made when
the test starts, so that "18 today" stays true whatever the date.
"""

import argparse
import copy
import datetime
import json
import os
import shutil

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

    # An id of 59 characters: more than a zone entry holds (39).
    long_id = "verified-alice-with-a-session-id-longer-than-an-entry-holds"
    save(long_id, with_id(v, long_id))


DOCUMENT_MEDIA = "3943b63a-acf6-4860-9984-b73616007046"   # seed's
SECOND_DOCUMENT = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
SECOND_MEDIA = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


def years_before(day, years, later):
    """day - years; 29 February becomes 1 March (later) or 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        if later:
            return datetime.date(day.year - years, 3, 1)
        return datetime.date(day.year - years, 2, 28)


def document_fields(dob):
    """A document fields media as the API returns it (API-NOTES 2a)."""
    doc = {
        "full_name": "Alice Example",
        "given_names": "Alice",
        "family_name": "Example",
        "nationality": "GBR",
        "document_number": "123456789",
        "expiration_date": "2031-06-01",
    }
    if dob is not None:
        doc["date_of_birth"] = dob
    return doc


def save_media(outdir, sid, mid, doc):
    d = os.path.join(outdir, "media", sid)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, mid + ".json"), "w") as f:
        if isinstance(doc, (bytes, str)):
            f.write(doc if isinstance(doc, str) else doc.decode())
        else:
            f.write(json.dumps(doc, indent=4) + "\n")


def requirements(outdir, today):
    """The fixtures of t/010-requirements.t, relative to today."""
    for name in os.listdir(SESSIONS):
        if name.endswith(".json"):
            shutil.copy(os.path.join(SESSIONS, name), outdir)

    v = load("verified-alice")

    def out(sid, doc):
        with open(os.path.join(outdir, sid + ".json"), "w") as f:
            f.write(json.dumps(with_id(doc, sid), indent=4) + "\n")

    def liveness_types(doc, first, second):
        caps = doc["resources"]["liveness_capture"]
        assert caps[0]["id"] == LIVENESS_RESOURCE_1
        caps[0]["liveness_type"] = first
        caps[1]["liveness_type"] = second

    # seed 003: the first attempt (rejected) was active, the second
    # (approved) passive; and the reverse
    d = copy.deepcopy(v)
    liveness_types(d, "ZOOM", "STATIC")
    out("liveness-zoom-rejected-static-approved", d)

    d = copy.deepcopy(v)
    liveness_types(d, "ZOOM", "STATIC")
    for c in checks_of(d, "LIVENESS"):
        approve = c["resources_used"] == [LIVENESS_RESOURCE_1]
        c["report"]["recommendation"] = (
            {"value": "APPROVE"} if approve
            else {"value": "REJECT", "reason": "LIVENESS_FAILED"})
    out("liveness-zoom-approved-static-rejected", d)

    # documents: a US driving licence, and that licence plus a UK passport
    d = copy.deepcopy(v)
    doc = d["resources"]["id_documents"][0]
    doc["document_type"] = "DRIVING_LICENCE"
    doc["issuing_country"] = "USA"
    out("document-usa-licence", d)

    d = copy.deepcopy(v)
    licence = copy.deepcopy(d["resources"]["id_documents"][0])
    licence["id"] = SECOND_DOCUMENT
    licence["document_type"] = "DRIVING_LICENCE"
    licence["issuing_country"] = "USA"
    licence["document_fields"]["media"]["id"] = SECOND_MEDIA
    d["resources"]["id_documents"].insert(0, licence)
    auth = checks_of(d, "ID_DOCUMENT_AUTHENTICITY")[0]
    first = copy.deepcopy(auth)
    first["id"] = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
    first["resources_used"] = [SECOND_DOCUMENT]
    d["checks"].insert(d["checks"].index(auth), first)
    out("documents-usa-licence-uk-passport", d)
    # the licence says 16, the passport 30: the accepted document decides
    save_media(outdir, "documents-usa-licence-uk-passport", SECOND_MEDIA,
               document_fields(years_before(today, 16, True).isoformat()))
    save_media(outdir, "documents-usa-licence-uk-passport", DOCUMENT_MEDIA,
               document_fields(years_before(today, 30, False).isoformat()))

    # dates of birth for 18+
    tomorrow = today + datetime.timedelta(days=1)
    yesterday = today - datetime.timedelta(days=1)
    month_ahead = (today.replace(day=1) + datetime.timedelta(days=32))
    dates = {
        "age-adult": years_before(today, 30, False).isoformat(),
        "age-18-today": years_before(today, 18, False).isoformat(),
        "age-18-yesterday": years_before(yesterday, 18, False).isoformat(),
        "age-18-tomorrow": years_before(tomorrow, 18, True).isoformat(),
        "age-minor": years_before(today, 15, True).isoformat(),
        # yyyy-mm of next month 18 years ago: its last day is still ahead
        "age-partial-month-minor": "%04d-%02d" % (month_ahead.year - 18,
                                                   month_ahead.month),
        # yyyy of 19 years ago: even its 31 December is 18 years past
        "age-partial-year-adult": "%04d" % (today.year - 19),
        "age-bad-date": "01/02/2000",
        "age-no-date": None,
    }
    for sid, dob in dates.items():
        out(sid, v)
        save_media(outdir, sid, DOCUMENT_MEDIA, document_fields(dob))

    d = with_id(v, "bob-minor")
    d["user_tracking_id"] = "bob"
    out("bob-minor", d)
    save_media(outdir, "bob-minor", DOCUMENT_MEDIA,
               document_fields(years_before(today, 16, True).isoformat()))

    d = copy.deepcopy(v)
    del d["resources"]["id_documents"][0]["document_fields"]
    out("age-no-fields", d)

    d = copy.deepcopy(v)
    d["checks"] = [c for c in d["checks"]
                   if c["type"] != "ID_DOCUMENT_AUTHENTICITY"]
    out("age-no-document", d)

    # media the API cannot serve: not JSON, 404, 500, missing
    for sid, mid in (("age-media-garbage", "garbage-1"),
                     ("age-media-404", "status-404-1"),
                     ("age-media-500", "status-500-1"),
                     ("age-media-missing", "0f1e2d3c-4b5a-4697-8877-665544332211")):
        d = copy.deepcopy(v)
        d["resources"]["id_documents"][0]["document_fields"]["media"]["id"] = mid
        out(sid, d)


def cli():
    p = argparse.ArgumentParser()
    p.add_argument("--requirements", metavar="DIR")
    p.add_argument("--today", help="yyyy-mm-dd, default: today in UTC")
    args = p.parse_args()
    if args.requirements is None:
        main()
        return
    if args.today:
        today = datetime.date.fromisoformat(args.today)
    else:
        today = datetime.datetime.now(datetime.timezone.utc).date()
    os.makedirs(args.requirements, exist_ok=True)
    requirements(args.requirements, today)


if __name__ == "__main__":
    cli()
