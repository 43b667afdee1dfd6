// The checkable facts of a Korean statute sentence, shared by the law-QA generator (what to blank, what to
// swap) and the fact check (legal/lawqa_verify.cpp: what an answer may not change):
//   - numbers with units: "14일 이내", "5년 이상", "500만원 이하", "3분의 2" (citations 제N조/항/호 are not facts
//     here: they are checked as citations);
//   - predicate polarity: "행사하지 아니하면" (행사, -), "해지할 수 있다" (해지, +), "효력이 없다" (효력, -);
//   - content bigrams (Hangul syllable pairs inside a word, minus question boilerplate) for topic overlap;
//   - the polite form of a statute sentence ("지급하여야 한다." -> "지급하여야 합니다.").
// Why heuristics and not a parser: the statutes are written in a small, regular register (한다체, fixed
// qualifiers 이상/이하/이내/미만/초과, fixed negations 아니하다/않다/못하다/없다), and the check must run on
// every generated item in well under a second per thousand.
#pragma once
#include <set>
#include <string>
#include <vector>

namespace beop::lawqa::facts {

struct Quantity {
  std::string number;     // digits without thousands commas: "14", "500", "3분의2" for a fraction
  std::string unit;       // "일", "년", "개월", "만원", "%", ... ("년간" is "년")
  std::string qualifier;  // "" | 이상 | 이하 | 이내 | 미만 | 초과
  size_t begin = 0, end = 0;  // byte span in the text (number .. unit, qualifier not included)
  std::string text() const { return number + unit + (qualifier.empty() ? "" : " " + qualifier); }
  bool operator<(const Quantity& o) const;
};
std::vector<Quantity> quantities(const std::string& s);

// Why a quantity of an answer disagrees with the text's quantities, or "" when it agrees: the same number and
// unit must occur in the text; a qualifier given in the answer must be the text's (이상 is not 이하).
std::string quantity_conflict(const Quantity& q, const std::vector<Quantity>& text);

// Predicate polarity: for each key (a predicate stem of >= 2 syllables), the polarities it has in s.
struct Polarity {
  std::string key;
  bool negative = false;
  bool noun = false;  // from "<key>이/가 있다/없다": only that construction is compared (규정이 없다 is not 규정하다)
};
std::vector<Polarity> explicit_polarities(const std::string& s);   // the marked forms (…지 아니, …할 수 없/있, …이 없/있)
// Every use of key in s, as kNeg | kCond codes: kNeg = negated, kCond = in a condition (…하면, …하지 아니하면);
// a verb key counts where a verb ending follows it (행사하면 is kCond). Polarities are compared only between
// uses of the same kind (행사해야 한다 does not contradict 행사하지 아니하면 …).
constexpr int kNeg = 1, kCond = 2;
std::set<int> polarity_of(const std::string& s, const std::string& key, bool noun);

// Hangul syllable bigrams inside each word of s, without the boilerplate of questions and answers.
std::set<std::string> content_bigrams(const std::string& s);
size_t overlap(const std::set<std::string>& a, const std::set<std::string>& b);

// A statute sentence ending in "…다." in the polite register ("…합니다."); other text is returned unchanged.
std::string polite(const std::string& sentence);

// Words (eojeol) of s split at whitespace.
std::vector<std::string> words(const std::string& s);
bool has_final_consonant(const std::string& word);  // of the last Hangul syllable (받침)

}  // namespace beop::lawqa::facts
