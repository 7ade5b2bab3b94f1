#include <shoal/detail/registry.hpp>

#include <deque>
#include <mutex>
#include <unordered_map>

namespace shoal::detail {

namespace {

// Filled during static initialisation, read-only afterwards; the mutex covers
// the rare registration that happens later (a constructor signature first
// used after main started).
struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, ClassInfo> classes;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, CtorFn>> ctors;
  std::deque<FunctionInfo> functions;  // stable addresses
  std::unordered_map<const void*, uint32_t> function_by_address;
};

Registry& registry() {
  static Registry r;  // constructed on first use, whatever the static-init order
  return r;
}

}  // namespace

void register_class(ClassInfo info) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const uint64_t id = info.class_id;
  r.classes[id] = std::move(info);
}

const ClassInfo* find_class(uint64_t class_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.classes.find(class_id);
  return it == r.classes.end() ? nullptr : &it->second;
}

uint64_t register_ctor(uint64_t class_id, uint64_t ctor_id, CtorFn fn) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.ctors[class_id][ctor_id] = fn;
  return ctor_id;
}

CtorFn find_ctor(uint64_t class_id, uint64_t ctor_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.ctors.find(class_id);
  if (it == r.ctors.end()) return nullptr;
  auto c = it->second.find(ctor_id);
  return c == it->second.end() ? nullptr : c->second;
}

uint32_t register_function(FunctionInfo info) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.function_by_address.find(info.address);
  if (it != r.function_by_address.end()) return it->second;
  const uint32_t index = uint32_t(r.functions.size());
  r.function_by_address[info.address] = index;
  r.functions.push_back(std::move(info));
  return index;
}

const FunctionInfo* find_function(uint32_t index) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return index < r.functions.size() ? &r.functions[index] : nullptr;
}

int function_index(const void* address) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.function_by_address.find(address);
  return it == r.function_by_address.end() ? -1 : int(it->second);
}

std::vector<std::string> split_names(std::string_view list) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  auto flush = [&] {
    // "&Class::method" -> "method"; trims spaces.
    size_t b = cur.find_first_not_of(" \t\n&");
    size_t e = cur.find_last_not_of(" \t\n");
    std::string name = b == std::string::npos ? "" : cur.substr(b, e - b + 1);
    const size_t colons = name.rfind("::");
    if (colons != std::string::npos) name = name.substr(colons + 2);
    out.push_back(name);
    cur.clear();
  };
  for (char c : list) {
    if (c == '(' || c == '<') ++depth;
    if (c == ')' || c == '>') --depth;
    if (c == ',' && depth == 0) {
      flush();
      continue;
    }
    cur.push_back(c);
  }
  if (!cur.empty()) flush();
  return out;
}

}  // namespace shoal::detail
