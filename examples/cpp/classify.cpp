// A program built against an installed medenc: load a model once, classify three texts, print the
// typed results.  Build: cmake -S examples/cpp -B build-example -DCMAKE_PREFIX_PATH=PREFIX
// Run:   build-example/classify MODEL_DIR
#include <cstdio>
#include <vector>

#include <medenc/medenc.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR (a sequence-classification checkpoint)\n", argv[0]);
    return 2;
  }
  try {
    const std::shared_ptr<const medenc::Model> model = medenc::Model::load(argv[1]);
    medenc::Session session(model);  // one per thread; the model is shared
    const std::vector<medenc::TextInput> texts{
        "Chest X-ray shows a left lower lobe infiltrate consistent with pneumonia.",
        "The central bank raised interest rates by half a point.",
        "Metformin 500 mg twice daily was started for type 2 diabetes.",
    };
    const medenc::ClassifyResponse r = session.classify(texts);
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!r.inputs[i].ok()) {
        std::printf("%zu\terror: %s\n", i, r.inputs[i].error.c_str());
        continue;
      }
      const medenc::ClassificationResult& c = r.results[i];
      if (c.has_score) std::printf("%zu\tscore %.4f", i, c.score);
      if (!c.label.empty()) std::printf("\tlabel %s", c.label.c_str());
      std::printf("\t%lld tokens\t%s\n", (long long)r.inputs[i].tokens, texts[i].text.c_str());
    }
    std::printf("medenc %s: tokenization %.3f s, inference %.3f s\n", MEDENC_VERSION, r.timings.tokenization,
                r.timings.inference);
  } catch (const medenc::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", medenc::error_kind_name(e.kind()), e.what());
    return 1;
  }
  return 0;
}
