#include "governor/events.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace airt::governor {

EventRing::EventRing(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {}

void EventRing::push(double t_s, const Decision& d) {
  Event& e = ring_[head_];
  e.t_s = t_s;
  e.from = uint32_t(d.from);
  e.to = uint32_t(d.point);
  e.pressure = d.pressure;
  e.shed = d.shed;
  std::memcpy(e.reason, d.reason, sizeof(e.reason));
  e.reason[sizeof(e.reason) - 1] = '\0';
  head_ = (head_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
  ++total_;
}

const Event& EventRing::at(size_t i) const {
  return ring_[(head_ + ring_.size() - count_ + i) % ring_.size()];
}

std::string EventRing::to_json(const Space& space) const {
  std::unique_ptr<cJSON, decltype(&cJSON_Delete)> root(cJSON_CreateObject(), cJSON_Delete);
  cJSON_AddNumberToObject(root.get(), "total", double(total_));
  cJSON* arr = cJSON_AddArrayToObject(root.get(), "events");
  for (size_t i = 0; i < count_; ++i) {
    const Event& e = at(i);
    cJSON* o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "t_s", e.t_s);
    cJSON_AddStringToObject(o, "from", space.describe(e.from).c_str());
    cJSON_AddStringToObject(o, "to", space.describe(e.to).c_str());
    cJSON_AddStringToObject(o, "pressure", pressure_name(e.pressure));
    cJSON_AddBoolToObject(o, "shed", e.shed);
    cJSON_AddStringToObject(o, "reason", e.reason);
    cJSON_AddItemToArray(arr, o);
  }
  std::unique_ptr<char, decltype(&cJSON_free)> text(cJSON_PrintUnformatted(root.get()), cJSON_free);
  return text ? std::string(text.get()) : std::string("{}");
}

}  // namespace airt::governor
