// The law-QA fact check (legal/lawqa_verify.cpp) against a table of hand-written items on the real statutes
// ($BEOP_DATA/statutes): correct answers and paraphrases kept; changed numbers, periods, amounts and
// qualifiers, swapped negations, wrong or non-existent articles and unrelated answers rejected, each for the
// expected rule. The expected verdicts were written from the statute texts quoted in the comments, not from
// the checker's output. Also the fact extractors themselves (quantities, polarity, polite endings).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "legal/lawqa.h"
#include "legal/lawqa_facts.h"
#include "src/common.h"

using namespace beop;
using namespace beop::lawqa;

namespace {

const CitationIndex* statute_index() {
  static std::vector<statutes::Article> arts;
  static CitationIndex* idx = [] {
    std::string dir = data_dir() + "/statutes";
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return (CitationIndex*)nullptr;
    for (auto& law : statutes::parse_statute_dir(dir))
      for (auto& a : law.articles) arts.push_back(a);
    return new CitationIndex(arts);
  }();
  return idx;
}

struct Row {
  const char* question;
  const char* answer;
  const char* citation;
  const char* expect;  // "" = kept, else the rejection reason
};

// 형법 제250조 ① 사람을 살해한 자는 사형, 무기 또는 5년 이상의 징역에 처한다.
// 민법 제162조 ① 채권은 10년간 행사하지 아니하면 소멸시효가 완성한다.
// 근로기준법 제36조 사용자는 근로자가 사망 또는 퇴직한 경우에는 … 14일 이내에 … 지급하여야 한다. 다만, … 연장할 수 있다.
// 근로기준법 제26조 … 적어도 30일 전에 예고를 하여야 하고 … 30일분 이상의 통상임금을 지급하여야 한다. …
// 주택임대차보호법 제3조 ① … 주택의 인도와 주민등록을 마친 때에는 그 다음 날부터 제삼자에 대하여 효력이 생긴다.
// 주택임대차보호법 제4조 ① 기간을 정하지 아니하거나 2년 미만으로 정한 임대차는 그 기간을 2년으로 본다. …
// 주택임대차보호법 제6조 ① 임대인이 … 6개월 전부터 2개월 전까지의 기간에 … 통지를 하지 아니한 경우에는 … 다시 임대차한 것으로 본다.
// 민법 제766조 ① … 안 날로부터 3년간 이를 행사하지 아니하면 시효로 인하여 소멸한다. ② … 10년을 경과한 때에도 전항과 같다.
// 형법 제329조 타인의 재물을 절취한 자는 6년 이하의 징역 또는 1천만원 이하의 벌금에 처한다.
// 민법 제4조 사람은 19세로 성년에 이르게 된다.
// 상가건물임대차보호법 제10조 ② 임차인의 계약갱신요구권은 … 10년을 초과하지 아니하는 범위에서만 행사할 수 있다.
// 이자제한법 제2조 ① … 최고이자율은 연 25퍼센트를 초과하지 아니하는 범위 안에서 대통령령으로 정한다.
// 근로기준법 제56조 ① 사용자는 연장근로 … 통상임금의 100분의 50 이상을 가산하여 근로자에게 지급하여야 한다.
// 근로기준법 제23조 ① 사용자는 근로자에게 정당한 이유 없이 해고, … 징벌 … 을 하지 못한다.
// 형법 제10조 ① 심신장애로 인하여 사물을 변별할 능력이 없거나 … 자의 행위는 벌하지 아니한다.
const Row kTable[] = {
    // --- correct answers and paraphrases: kept
    {"사람을 살해하면 어떤 처벌을 받나요?", "사람을 살해한 자는 사형, 무기 또는 5년 이상의 징역에 처해집니다(형법 제250조 제1항).",
     "형법 제250조 제1항", ""},
    {"살인죄의 법정형은 무엇인가요?", "살인죄는 사형이나 무기징역, 또는 최소 5년 이상의 징역으로 처벌됩니다.", "형법 제250조 제1항", ""},
    {"돈을 빌려준 지 오래되었는데 채권이 소멸하나요?",
     "채권은 10년 동안 행사하지 않으면 소멸시효가 완성됩니다. 따라서 10년이 지나기 전에 권리를 행사해야 합니다.",
     "민법 제162조 제1항", ""},
    {"채권의 소멸시효 기간은 얼마인가요?", "민법 제162조 제1항에 따르면 채권은 10년간 행사하지 아니하면 소멸시효가 완성합니다.",
     "민법 제162조 제1항", ""},
    {"회사를 퇴직했는데 밀린 임금은 언제까지 받을 수 있나요?",
     "근로자가 퇴직한 경우 사용자는 지급 사유가 발생한 때부터 14일 이내에 임금 등 모든 금품을 지급해야 합니다. 다만 특별한 "
     "사정이 있으면 당사자 합의로 기일을 연장할 수 있습니다.",
     "근로기준법 제36조", ""},
    {"퇴직 후 임금 지급 기한은?", "사용자는 퇴직한 근로자에게 14일 이내에 임금과 그 밖의 모든 금품을 지급하여야 합니다.",
     "근로기준법 제36조", ""},
    {"회사가 해고하려면 미리 알려야 하나요?",
     "사용자가 근로자를 해고하려면 적어도 30일 전에 예고해야 하고, 예고하지 않았다면 30일분 이상의 통상임금을 지급해야 합니다.",
     "근로기준법 제26조", ""},
    {"전입신고를 마친 임차인은 언제부터 제삼자에게 대항할 수 있나요?",
     "임차인이 주택을 인도받고 주민등록을 마치면 그 다음 날부터 제삼자에 대하여 효력이 생깁니다.", "주택임대차보호법 제3조 제1항", ""},
    {"전세 계약 기간을 1년으로 정했는데 1년 뒤 나가야 하나요?",
     "2년 미만으로 정한 임대차는 그 기간을 2년으로 봅니다. 다만 임차인은 2년 미만으로 정한 기간이 유효함을 주장할 수 있습니다.",
     "주택임대차보호법 제4조 제1항", ""},
    {"집주인이 계약 만료 전에 아무 말이 없으면 계약은 어떻게 되나요?",
     "임대인이 임대차기간이 끝나기 6개월 전부터 2개월 전까지 갱신거절의 통지를 하지 아니한 경우에는 전 임대차와 동일한 조건으로 "
     "다시 임대차한 것으로 봅니다.",
     "주택임대차보호법 제6조 제1항", ""},
    {"불법행위로 인한 손해배상청구권은 언제 소멸하나요?",
     "손해 및 가해자를 안 날로부터 3년간 행사하지 아니하면 손해배상의 청구권은 시효로 인하여 소멸하고, 불법행위를 한 날로부터 "
     "10년이 지나도 같습니다.",
     "민법 제766조", ""},
    {"남의 재물을 훔치면 어떤 처벌을 받나요?", "타인의 재물을 절취한 자는 6년 이하의 징역 또는 1천만원 이하의 벌금에 처합니다.",
     "형법 제329조", ""},
    {"몇 살부터 성년인가요?", "사람은 19세로 성년에 이르게 됩니다(민법 제4조).", "민법 제4조", ""},
    {"상가 임차인은 계약갱신을 몇 년까지 요구할 수 있나요?",
     "임차인의 계약갱신요구권은 최초의 임대차기간을 포함한 전체 임대차기간이 10년을 초과하지 아니하는 범위에서만 행사할 수 있습니다.",
     "상가건물임대차보호법 제10조 제2항", ""},
    {"법으로 정한 최고이자율의 한도는 얼마인가요?",
     "금전대차에 관한 계약상의 최고이자율은 연 25퍼센트를 초과하지 아니하는 범위 안에서 대통령령으로 정합니다.",
     "이자제한법 제2조 제1항", ""},
    {"연장근로를 하면 임금을 더 받나요?", "사용자는 연장근로에 대하여 통상임금의 100분의 50 이상을 가산하여 근로자에게 지급해야 합니다.",
     "근로기준법 제56조 제1항", ""},
    {"회사가 이유 없이 저를 해고할 수 있나요?", "사용자는 근로자에게 정당한 이유 없이 해고, 휴직, 정직 등 징벌을 하지 못합니다.",
     "근로기준법 제23조 제1항", ""},
    {"심신장애 상태에서 한 행위도 처벌되나요?", "심신장애로 사물을 변별할 능력이 없는 자의 행위는 벌하지 아니합니다.", "형법 제10조 제1항", ""},
    {"사람을 살해한 자의 처벌은?", "「형법」 제250조 제1항은 \"사람을 살해한 자는 사형, 무기 또는 5년 이상의 징역에 처한다.\"라고 규정합니다.",
     "형법 제250조 제1항", ""},
    {"채권 소멸시효는 몇 년인가요?", "열 해, 곧 10년입니다. 채권을 그 기간 동안 행사하지 아니하면 소멸시효가 완성합니다.",
     "민법 제162조", ""},

    // --- changed numbers, periods, amounts, qualifiers
    {"사람을 살해하면 어떤 처벌을 받나요?", "사람을 살해한 자는 사형, 무기 또는 3년 이상의 징역에 처해집니다.", "형법 제250조 제1항",
     "number_mismatch"},
    {"사람을 살해하면 어떤 처벌을 받나요?", "사람을 살해한 자는 사형, 무기 또는 5년 이하의 징역에 처해집니다.", "형법 제250조 제1항",
     "number_mismatch"},
    {"돈을 빌려준 지 오래되었는데 채권이 소멸하나요?", "채권은 5년간 행사하지 아니하면 소멸시효가 완성됩니다.", "민법 제162조 제1항",
     "number_mismatch"},
    {"회사를 퇴직했는데 밀린 임금은 언제까지 받을 수 있나요?", "사용자는 퇴직한 근로자에게 30일 이내에 임금 등 모든 금품을 지급해야 합니다.",
     "근로기준법 제36조", "number_mismatch"},
    {"회사가 해고하려면 미리 알려야 하나요?", "사용자는 근로자를 해고하려면 적어도 60일 전에 예고를 하여야 합니다.", "근로기준법 제26조",
     "number_mismatch"},
    {"전세 계약 기간을 1년으로 정했는데 1년 뒤 나가야 하나요?", "2년 미만으로 정한 임대차는 그 기간을 4년으로 봅니다.",
     "주택임대차보호법 제4조 제1항", "number_mismatch"},
    {"집주인이 계약 만료 전에 아무 말이 없으면 계약은 어떻게 되나요?",
     "임대인이 기간이 끝나기 6개월 전부터 1개월 전까지 갱신거절의 통지를 하지 아니하면 다시 임대차한 것으로 봅니다.",
     "주택임대차보호법 제6조 제1항", "number_mismatch"},
    {"불법행위로 인한 손해배상청구권은 언제 소멸하나요?", "손해 및 가해자를 안 날로부터 1년간 손해배상의 청구권을 행사하지 아니하면 소멸합니다.",
     "민법 제766조", "number_mismatch"},
    {"남의 물건을 훔치면 어떤 처벌을 받나요?", "타인의 재물을 절취한 자는 6년 이하의 징역 또는 5천만원 이하의 벌금에 처합니다.",
     "형법 제329조", "number_mismatch"},
    {"몇 살부터 성년인가요?", "사람은 20세로 성년에 이르게 됩니다.", "민법 제4조", "number_mismatch"},
    {"상가 임차인은 계약갱신을 몇 년까지 요구할 수 있나요?", "계약갱신요구권은 전체 임대차기간이 5년을 초과하지 않는 범위에서 행사할 수 있습니다.",
     "상가건물임대차보호법 제10조 제2항", "number_mismatch"},
    {"법으로 정한 최고이자율의 한도는 얼마인가요?", "금전대차의 최고이자율은 연 30퍼센트를 초과하지 아니하는 범위에서 정합니다.",
     "이자제한법 제2조 제1항", "number_mismatch"},
    {"연장근로를 하면 임금을 더 받나요?", "사용자는 연장근로에 대하여 통상임금의 100분의 30 이상을 가산하여 지급해야 합니다.",
     "근로기준법 제56조 제1항", "number_mismatch"},

    // --- swapped negation
    {"돈을 빌려준 지 오래되었는데 채권이 소멸하나요?", "채권은 10년간 행사하면 소멸시효가 완성됩니다.", "민법 제162조 제1항",
     "negation_mismatch"},
    {"전입신고를 마친 임차인은 제삼자에게 대항할 수 있나요?",
     "임차인이 주택을 인도받고 주민등록을 마쳐도 제삼자에 대하여 효력이 생기지 아니합니다.", "주택임대차보호법 제3조 제1항",
     "negation_mismatch"},
    {"상가 임차인은 10년이 넘어도 계약갱신을 요구할 수 있나요?",
     "계약갱신요구권은 전체 임대차기간이 10년을 초과하지 아니하는 범위에서만 행사할 수 없습니다.", "상가건물임대차보호법 제10조 제2항",
     "negation_mismatch"},
    {"심신장애 상태에서 한 행위도 처벌되나요?", "심신장애로 사물을 변별할 능력이 없는 자의 행위도 벌합니다.", "형법 제10조 제1항",
     "negation_mismatch"},
    {"전세 계약 기간을 1년으로 정했는데 1년 뒤 나가야 하나요?", "임차인은 2년 미만으로 정한 기간이 유효함을 주장할 수 없습니다.",
     "주택임대차보호법 제4조 제1항", "negation_mismatch"},
    {"회사를 퇴직했는데 밀린 임금 지급일을 미룰 수 있나요?",
     "특별한 사정이 있어도 당사자 사이의 합의로 기일을 연장할 수 없습니다.", "근로기준법 제36조", "negation_mismatch"},

    // --- wrong article, non-existent article
    {"돈을 빌려준 지 오래되었는데 채권이 소멸하나요?", "채권은 10년간 행사하지 아니하면 소멸시효가 완성합니다.", "민법 제9999조",
     "citation_unresolved"},
    {"사람을 살해하면 어떤 처벌을 받나요?", "사람을 살해한 자는 사형, 무기 또는 5년 이상의 징역에 처해집니다.", "형법 제250조 제9항",
     "citation_unresolved"},
    {"사람을 살해하면 어떤 처벌을 받나요?", "형법 제2500조에 따라 사형, 무기 또는 5년 이상의 징역에 처해집니다.", "형법 제250조 제1항",
     "citation_unresolved"},
    {"돈을 빌려준 지 오래되었는데 채권이 소멸하나요?", "민법 제163조에 따르면 채권은 10년간 행사하지 아니하면 소멸시효가 완성합니다.",
     "민법 제162조 제1항", "citation_mismatch"},
    {"회사를 퇴직했는데 밀린 임금은 언제까지 받을 수 있나요?", "사용자는 퇴직한 근로자에게 14일 이내에 임금을 지급해야 합니다.",
     "근로기준법 제26조", "number_mismatch"},  // 제26조 (해고의 예고) has no 14일

    // --- unrelated answers, ungrounded answers, bad quotes
    {"전세 계약이 끝났는데 집주인이 보증금을 돌려주지 않아요. 어떻게 해야 하나요?",
     "채권은 10년간 행사하지 아니하면 소멸시효가 완성합니다.", "민법 제162조 제1항", "off_topic"},
    {"회사가 해고하려면 미리 알려야 하나요?", "사람은 19세로 성년에 이르게 됩니다.", "민법 제4조", "off_topic"},
    {"살인죄의 법정형은 무엇인가요?", "살인죄에 대해서는 잘 모르겠고, 변호사와 상담해 보시기 바랍니다.", "형법 제250조 제1항",
     "not_grounded"},
    {"사람을 살해하면 어떤 처벌을 받나요?", "조문은 \"사람을 살해한 자는 반드시 사형에 처한다\"라고 정합니다.", "형법 제250조 제1항",
     "quote_not_in_text"},
    {"", "사람을 살해한 자는 사형에 처합니다.", "형법 제250조 제1항", "empty_field"},
};

}  // namespace

TEST_CASE("fact check: the hand-written table of good and bad items on the real statutes") {
  const CitationIndex* idx = statute_index();
  if (!idx) {
    MESSAGE("skipped: no statutes under " << data_dir() << "/statutes (set BEOP_DATA)");
    return;
  }
  int good = 0, bad = 0;
  for (const Row& r : kTable) {
    std::string answer = r.answer, citation = r.citation;
    CAPTURE(answer);
    CAPTURE(citation);
    Verdict v = verify_item(*idx, r.question, r.answer, r.citation, 0.3);
    CAPTURE(v.detail);
    CHECK(v.reason == std::string(r.expect));
    CHECK(v.ok == (std::string(r.expect).empty()));
    (*r.expect ? bad : good)++;
  }
  CHECK(good >= 15);
  CHECK(bad >= 25);
  CHECK(good + bad >= 40);
}

TEST_CASE("fact extractors: quantities, qualifiers, polarity, polite endings") {
  auto q = facts::quantities("14일 이내에 1,000만원 이하, 100분의 50 이상, 10년간, 2년내에, 제3조 제1항");
  REQUIRE(q.size() == 5);
  CHECK(q[0].text() == "14일 이내");
  CHECK(q[1].text() == "1000만원 이하");
  CHECK(q[2].text() == "100분의50 이상");
  CHECK(q[3].text() == "10년");
  CHECK(q[4].text() == "2년 이내");
  CHECK(facts::quantity_conflict(facts::quantities("5년")[0], facts::quantities("15년 이상")) != "");
  CHECK(facts::quantity_conflict(facts::quantities("5년 이상")[0], facts::quantities("5년 이상의 징역")) == "");
  CHECK(facts::quantity_conflict(facts::quantities("5년 이하")[0], facts::quantities("5년 이상의 징역")) != "");
  using facts::kCond;
  using facts::kNeg;
  CHECK(facts::polarity_of("채권은 10년간 행사하지 아니하면", "행사", false) == std::set<int>{kNeg | kCond});
  CHECK(facts::polarity_of("채권은 10년간 행사하면", "행사", false) == std::set<int>{kCond});
  CHECK(facts::polarity_of("권리를 행사해야 합니다", "행사", false) == std::set<int>{0});
  CHECK(facts::polarity_of("계약을 해지할 수 있다.", "해지", false) == std::set<int>{0});
  CHECK(facts::polarity_of("효력이 생기지 아니한다.", "생기", false) == std::set<int>{kNeg});
  CHECK(facts::polarity_of("효력이 생긴다.", "생기", false) == std::set<int>{0});
  CHECK(facts::polarity_of("벌금에 처한다.", "벌", false).empty());
  CHECK(facts::polarity_of("권리의 행사는", "행사", false).empty());  // a noun use has no polarity
  CHECK(facts::polite("지급하여야 한다.") == "지급하여야 합니다.");
  CHECK(facts::polite("효력이 있다.") == "효력이 있습니다.");
  CHECK(facts::polite("적용하지 않는다.") == "적용하지 않습니다.");
  CHECK(facts::polite("성년으로 본다. 다만, 그러하지 아니하다.") == "성년으로 봅니다. 다만, 그러하지 아니합니다.");
}
