#include <shoal/detail/registry.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace shoal::detail {

namespace {

// Filled during static initialisation, read-only afterwards; the mutex covers
// the rare registration that happens later (a constructor signature first
// used after main started). Functions are also read on every task call: that
// read takes no lock (find_function()).
struct Registry {
  static constexpr uint32_t kChunkBits = 8;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kChunks = 256;  // room for 65536 functions

  std::mutex mu;
  std::unordered_map<uint64_t, ClassInfo> classes;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, CtorFn>> ctors;
  // Functions by index, in chunks that never move once allocated (under mu).
  std::atomic<FunctionInfo*> function_chunks[kChunks] = {};
  // How many functions are registered; a function is complete before the
  // count covers it.
  std::atomic<uint32_t> function_count{0};
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

void register_group(uint64_t class_id, std::string_view name, int limit,
                    std::span<const uint32_t> methods) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.classes.find(class_id);
  if (it == r.classes.end()) return;  // SHOAL_ACTOR registers the class first (same unit)
  ClassInfo& c = it->second;
  auto fail = [&](const std::string& why) {
    if (c.group_error.empty()) {
      c.group_error =
          "shoal: concurrency group \"" + std::string(name) + "\" of " + c.name + ": " + why;
    }
  };
  if (name.empty() || name == kDefaultGroupName) return fail("the name is reserved");
  if (name.size() >= kGroupNameBytesMax) {
    return fail("the name is longer than " + std::to_string(kGroupNameBytesMax - 1) + " bytes");
  }
  if (limit < 1) return fail("its limit " + std::to_string(limit) + " is below 1");
  for (const GroupInfo& g : c.groups) {
    if (g.name == name) return fail("declared twice");
  }
  if (c.groups.size() + 1 >= kMaxGroupsPerActor) {
    return fail("an actor has at most " + std::to_string(kMaxGroupsPerActor) +
                " concurrency groups, the default one included");
  }
  c.groups.push_back(GroupInfo{std::string(name), limit});
  const uint32_t group = uint32_t(c.groups.size());
  for (uint32_t m : methods) {
    if (m >= c.methods.size()) return fail("it lists a method that SHOAL_ACTOR does not");
    if (c.methods[m].group != 0) {
      return fail("method " + c.methods[m].name + " is in group \"" +
                  c.groups[c.methods[m].group - 1].name + "\" already");
    }
    c.methods[m].group = group;
  }
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
  const uint32_t index = r.function_count.load(std::memory_order_relaxed);  // only under mu
  if (index >= Registry::kChunks * Registry::kChunkSize) {
    throw std::length_error("shoal: more than 65536 remote functions registered");
  }
  const uint32_t chunk = index >> Registry::kChunkBits;
  FunctionInfo* functions = r.function_chunks[chunk].load(std::memory_order_relaxed);  // under mu
  if (functions == nullptr) {
    functions = new FunctionInfo[Registry::kChunkSize];  // lives until exit
    // release: pairs with the acquire load in find_function(), which reads
    // the chunk only after the count (published below) covers an entry of it.
    r.function_chunks[chunk].store(functions, std::memory_order_release);
  }
  functions[index & (Registry::kChunkSize - 1)] = std::move(info);
  r.function_by_address[functions[index & (Registry::kChunkSize - 1)].address] = index;
  // release: the entry written above before the count that covers it; pairs
  // with the acquire load of function_count in find_function().
  r.function_count.store(index + 1, std::memory_order_release);
  return index;
}

const FunctionInfo* find_function(uint32_t index) {
  Registry& r = registry();
  // acquire: pairs with the release store of function_count in
  // register_function(): entry `index` is complete if the count covers it.
  if (index >= r.function_count.load(std::memory_order_acquire)) return nullptr;
  // acquire: pairs with the release store of the chunk in register_function().
  const FunctionInfo* functions =
      r.function_chunks[index >> Registry::kChunkBits].load(std::memory_order_acquire);
  return &functions[index & (Registry::kChunkSize - 1)];
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
