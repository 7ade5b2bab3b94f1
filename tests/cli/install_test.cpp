// `cmake --install` gives a usable package: a project outside this tree
// (tests/install) configures with find_package(shoal CONFIG), builds against
// the installed headers and libraries, and runs, alone and under the installed
// `shoal launch`.
//
// Slow (it configures and builds a project): its timeout is in tests/timeouts.cmake.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using shoal::testing::run_command;
using shoal::testing::split_lines;
namespace fs = std::filesystem;

namespace {

// KEY -> VALUE of a CMakeCache.txt ("KEY:TYPE=VALUE" lines).
std::map<std::string, std::string> read_cache(const fs::path& build_dir) {
  std::map<std::string, std::string> cache;
  std::ifstream in(build_dir / "CMakeCache.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '/') continue;
    const size_t colon = line.find(':'), eq = line.find('=');
    if (colon == std::string::npos || eq == std::string::npos || colon > eq) continue;
    cache[line.substr(0, colon)] = line.substr(eq + 1);
  }
  return cache;
}

std::string show(const shoal::testing::CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "\n--- stderr\n" +
         r.err;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shoal-install-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(Install, ConsumerProjectFindsBuildsAndRunsAgainstTheInstalledTree) {
  const char* tests_dir = std::getenv("SHOAL_TEST_BINARY_DIR");
  ASSERT_NE(tests_dir, nullptr) << "run through ctest (SHOAL_TEST_BINARY_DIR names build/tests)";
  const fs::path build_dir = fs::path(tests_dir).parent_path();
  auto cache = read_cache(build_dir);
  ASSERT_FALSE(cache["CMAKE_HOME_DIRECTORY"].empty()) << "no CMakeCache.txt in " << build_dir;
  const fs::path source_dir = cache["CMAKE_HOME_DIRECTORY"];
  const std::string cmake = cache["CMAKE_COMMAND"].empty() ? "cmake" : cache["CMAKE_COMMAND"];

  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path prefix = tmp.path() / "prefix";
  const fs::path consumer_build = tmp.path() / "build";

  // 1. Install.
  auto r = run_command({cmake, "--install", build_dir.string(), "--prefix", prefix.string()}, 300s);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_TRUE(fs::exists(prefix / "include/shoal/shoal.hpp"));
  EXPECT_TRUE(fs::exists(prefix / "bin/shoal"));
  fs::path config;
  for (const auto& e : fs::recursive_directory_iterator(prefix)) {
    if (e.path().filename() == "shoalConfig.cmake") config = e.path();
  }
  ASSERT_FALSE(config.empty()) << "no shoalConfig.cmake installed";
  // Internal headers stay internal: only the public API is installed.
  EXPECT_FALSE(fs::exists(prefix / "include/store")) << "store/ headers installed";

  // 2. Configure the consumer against the installed tree only.
  std::vector<std::string> configure{
      cmake,
      "-S",
      (source_dir / "tests/install").string(),
      "-B",
      consumer_build.string(),
      "-DCMAKE_PREFIX_PATH=" + prefix.string(),
      "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF",
      "-DCMAKE_BUILD_TYPE=" +
          (cache["CMAKE_BUILD_TYPE"].empty() ? std::string("Release") : cache["CMAKE_BUILD_TYPE"])};
  if (!cache["CMAKE_CXX_COMPILER"].empty()) {
    configure.push_back("-DCMAKE_CXX_COMPILER=" + cache["CMAKE_CXX_COMPILER"]);
  }
  // A sanitized shoal needs a sanitized consumer (the runtime comes at link time).
  if (!cache["SHOAL_SANITIZE"].empty()) {
    const std::string flag = "-fsanitize=" + cache["SHOAL_SANITIZE"];
    configure.push_back("-DCMAKE_CXX_FLAGS=" + flag);
    configure.push_back("-DCMAKE_EXE_LINKER_FLAGS=" + flag);
  }
  r = run_command(configure, 300s);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto consumer_cache = read_cache(consumer_build);
  ASSERT_TRUE(consumer_cache.count("shoal_DIR"));
  EXPECT_EQ(fs::weakly_canonical(consumer_cache.at("shoal_DIR")),
            fs::weakly_canonical(config.parent_path()))
      << "found a shoal other than the installed one";

  // 3. Build it.
  r = run_command({cmake, "--build", consumer_build.string(), "-j2"}, 900s);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const fs::path program = consumer_build / "shoal_consumer";
  ASSERT_TRUE(fs::exists(program));

  // 4. Run it alone...
  const std::vector<std::string> env{"SHOAL_STORE_BYTES=256M"};
  r = run_command({program.string()}, 120s, env);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  for (const char* line : {"ok put/get", "ok get_view", "ok named actor", "ok actor call",
                           "ok async actor call", "ok stateless task", "rank 0 of 1 done"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing '" << line << "'\n" << show(r);
  }

  // ...and as two ranks under the installed `shoal launch`.
  const std::string shoal = (prefix / "bin/shoal").string();
  r = run_command({shoal, "launch", "-n", "2", "--", program.string()}, 120s, env);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  int ok_lines = 0;
  for (const std::string& line : split_lines(r.out)) {
    EXPECT_EQ(line.rfind("(rank ", 0), 0u) << line;
    ok_lines += line.find(") ok ") != std::string::npos;
  }
  EXPECT_EQ(ok_lines, 12) << show(r);
  EXPECT_NE(r.out.find("rank 0 of 2 done"), std::string::npos) << show(r);
  EXPECT_NE(r.out.find("rank 1 of 2 done"), std::string::npos) << show(r);
  EXPECT_EQ(run_command({shoal, "--help"}, 30s).exit_code, 0);
}
