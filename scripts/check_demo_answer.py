#!/usr/bin/env python3
"""Checks `make demo`'s closing answer (scripts/demo.sh writes it to runs/demo/answer.txt): it must be about
the 전세 deposit question, even if imperfect. Rejected: an empty answer, a multiple-choice letter
(`정답은 1번입니다.`, the collapse the old law-QA mix caused), an answer with no Hangul, and one that names none of
the question's legal terms. Exit 0 when the answer passes, 1 with a one-line reason otherwise, 2 on a usage error.

    check_demo_answer.py FILE        (tests/py/test_demo_answer.py tests the rules)
"""
import re
import sys

# Terms of the question and of the statutes it is about (주택임대차보호법: 보증금 반환, 임차권등기명령, 대항력).
TERMS = ("보증금", "전세", "임대차", "임대인", "임차인", "집주인", "반환", "임차권", "주택", "계약", "대항력",
         "우선변제", "경매", "등기", "돌려")


def verdict(answer):
    """'' when the answer is about the question, else the reason. infer chat's trailer line
    "(검색된 참조 조문: …)" names the retrieved statute, not the model's words: it is left out."""
    a = "\n".join(l for l in answer.splitlines() if not l.startswith("(검색된 참조 조문:")).strip()
    if not a:
        return "empty answer"
    if re.match(r"^\s*(정답은\s*)?\d+\s*번", a):
        return "a multiple-choice letter, not an answer: " + a[:60]
    hangul = sum(1 for c in a if "\uac00" <= c <= "\ud7a3")
    if hangul < 10:
        return "fewer than 10 Hangul syllables: " + a[:60]
    if not any(t in a for t in TERMS):
        return "names none of the question's terms (%s): %s" % (", ".join(TERMS[:6]), a[:80])
    return ""


def main(argv):
    if len(argv) != 2:
        print("usage: check_demo_answer.py FILE", file=sys.stderr)
        return 2
    try:
        text = open(argv[1], encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        print("check_demo_answer: %s: %s" % (argv[1], e), file=sys.stderr)
        return 2
    why = verdict(text)
    if why:
        print("check_demo_answer: %s: %s" % (argv[1], why), file=sys.stderr)
        return 1
    print("check_demo_answer: the answer is about the question")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
