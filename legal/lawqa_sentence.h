// One statute sentence taken apart for the law-QA templates: who it binds (actor), when (condition), what
// follows (effect), and the legally meaningful edits that turn it false while keeping it grammatical (a number,
// a period, an actor or a negation swapped for another from the same statute). legal/lawqa_template.cpp uses
// these to write situation questions, cloze blanks and true/false and multiple-choice distractors.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace beop::lawqa::sentence {

// The first sentence of a unit's own text (up to and including the first "다."), "" when shorter than 15 or
// longer than 250 code points.
std::string first_sentence(const std::string& unit_text);
// The sentence after the first one when it is an exception ("다만, …", "그러나 …"), else "".
std::string exception_sentence(const std::string& unit_text);
// A lead-in or cross-reference sentence that cannot stand alone as an option or a situation: "다음 각 호",
// "전항", "전조", "전2조", "제1항의 경우".
bool is_dependent(const std::string& s);

struct Parts {
  std::string actor;      // "사용자" from "사용자는 …" ("" when the sentence does not open with a topic noun)
  std::string condition;  // "근로자가 사망 또는 퇴직한 경우", "10년간 행사하지 아니하면" ("" = none)
  std::string effect;     // the rest, ending in "다."
  enum Kind { Duty, Power, Bar, Effect } kind = Effect;  // 하여야 한다 / 할 수 있다 / 할 수 없다, 아니한다 / other
  bool person = false;    // the actor is a person or body (임차인, 사용자, 법원), not a thing (채권)
};
Parts parse(const std::string& s);

// What a statute offers as substitutes for the edits: number-with-unit spans by unit ("일" -> "14일", "30일",
// …) and the text of the whole law, for checking that a swapped actor occurs in it.
struct LawPool {
  std::map<std::string, std::set<std::string>> quantity_spans;
  std::string text;
  void add(const std::string& unit_text);
};

// Distinct false variants of s made by one legal edit each (numbers, qualifiers 이상/이하 미만/초과, actor
// pairs such as 임대인/임차인, negation 할 수 있다/할 수 없다, 하여야 한다/하지 아니하여도 된다), none of them
// occurring in `own` (the unit's text). Deterministic: candidates in sentence order.
std::vector<std::string> false_variants(const std::string& s, const LawPool& pool, const std::string& own);

// Legally meaningful spans of a unit's text that occur exactly once in it, for cloze blanks: numbers with units
// (with their qualifier), legal effects (무효, 취소, 손해배상, 징역, 대항력, …) and the sentence's actor.
std::vector<std::string> cloze_spans(const std::string& text, const std::string& actor);

// "사용자" -> "사용자는", "임차인" -> "임차인은".
std::string topic(const std::string& noun);

}  // namespace beop::lawqa::sentence
