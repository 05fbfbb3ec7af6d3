// uq::LastLayerFeatureKernel (packed SOAP, LayerNorm folded into the first layer) against the
// model's forward(): hidden layers with and without layernorm, an mlp head, and its errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "autodiff/graph.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "tests/helpers.hpp"
#include "uq/llpr_features.hpp"
#include "uq/llpr_model.hpp"

using testing::max_abs;

namespace {

const nn::Module* child(const nn::Module* m, const std::string& name) {
    for (const auto& [n, c] : m->children())
        if (n == name) return c.get();
    return nullptr;
}

std::vector<uq::SpeciesLayers> layers_of(const nn::bpnn::SoapBpnn& model) {
    std::vector<uq::SpeciesLayers> nets;
    for (int Z : model.species()) {
        const std::string key = std::to_string(Z);
        uq::SpeciesLayers net;
        if (model.hypers().layernorm)
            net.layernorm = dynamic_cast<const nn::LayerNorm*>(child(child(&model, "layernorms"), key));
        const nn::Module* layers = child(child(child(&model, "bpnn"), key), "layers");
        for (long k = 0; k < model.hypers().num_hidden_layers; ++k)
            net.layers.push_back(dynamic_cast<const nn::Linear*>(child(layers, std::to_string(k))));
        if (const nn::Module* heads = child(&model, "heads"))
            net.layers.push_back(dynamic_cast<const nn::Linear*>(child(heads, key)));
        nets.push_back(net);
    }
    return nets;
}

}  // namespace

TEST_CASE("llpr_features: last-layer features equal forward()'s (layernorm or not, mlp head); errors",
          "[uq][llpr]") {
    const std::vector<desc::System> eth = testing::test_frames("ethanol-xtb-5.xyz");
    for (bool layernorm : {true, false})
        for (bool mlp_head : {false, true}) {
            nn::bpnn::BpnnHypers h;
            h.max_angular = 3, h.max_radial = 3, h.num_neurons_per_layer = 8, h.num_hidden_layers = 2;
            h.layernorm = layernorm;
            h.energy_head = mlp_head ? nn::bpnn::Head::mlp : nn::bpnn::Head::linear;
            ad::Rng rng(7);
            nn::bpnn::SoapBpnn model(h, {1, 6, 8}, rng);
            INFO("layernorm " << layernorm << ", mlp head " << mlp_head);
            ad::Tensor ref;
            {
                ad::NoGrad no_grad;
                ref = model.forward(nn::bpnn::make_batch(eth, h.cutoff)).last_layer_features;  // [5, P]
            }
            const uq::LastLayerFeatureKernel kernel(model.soap(), model.species(), layers_of(model), h.cutoff);
            REQUIRE(kernel.n_features() == ref.dim(1));
            ad::Tensor got = ad::Tensor::empty(ref.shape());
            std::vector<long> counts(eth.size());
            kernel.compute(eth.data(), 2, got.data(), counts.data());  // two blocks: 2 + 3 frames
            kernel.compute(eth.data() + 2, 3, got.data() + 2 * ref.dim(1), counts.data() + 2);
            CHECK(counts == std::vector<long>(5, 9));
            // the folded LayerNorm subtracts mu r from x (gamma . W)^T: cancellation of ~1e-15
            // relative to the terms, far below 1e-12
            CHECK(max_abs(got - ref) < 1e-12 * (1 + max_abs(ref)));
        }
    ad::Rng rng(1);
    nn::bpnn::BpnnHypers h;
    h.max_angular = 2, h.max_radial = 2, h.num_neurons_per_layer = 4, h.num_hidden_layers = 1;
    nn::bpnn::SoapBpnn model(h, {1, 6}, rng);  // no oxygen
    const uq::LastLayerFeatureKernel kernel(model.soap(), model.species(), layers_of(model), h.cutoff);
    std::vector<double> out(static_cast<size_t>(kernel.n_features()));
    CHECK_THROWS_WITH(kernel.compute(eth.data(), 1, out.data(), nullptr),
                      Catch::Contains("expected atomic numbers from the model's species list") && Catch::Contains("got 8"));
    // small molecules take a direct pair loop; bad geometry still gets desc::neighbor_list's error
    std::vector<desc::System> bad{eth[0]};
    bad[0].numbers = {1, 6, 1, 6, 1, 1, 1, 6, 1};  // no oxygen
    bad[0].positions = bad[0].positions.clone();
    for (int a = 0; a < 3; ++a) bad[0].positions.data()[3 + a] = bad[0].positions.data()[a] + 0.01;
    CHECK_THROWS_WITH(kernel.compute(bad.data(), 1, out.data(), nullptr),
                      Catch::Contains("expected atoms at least 0.1 A apart, got atoms 0 and 1"));
    bad[0].positions.data()[4] = std::nan("");
    CHECK_THROWS_WITH(kernel.compute(bad.data(), 1, out.data(), nullptr), Catch::Contains("expected finite positions"));
    CHECK_THROWS_WITH(uq::LastLayerFeatureKernel(model.soap(), model.species(), {}, h.cutoff),
                      Catch::Contains("expected one network per species, got 0 for 2 species"));
}

TEST_CASE("llpr_features: a model without hidden layers keeps the general path of soap_bpnn_last_layer_features",
          "[uq][llpr]") {
    const std::vector<desc::System> eth = testing::test_frames("ethanol-xtb-5.xyz");
    nn::bpnn::BpnnHypers h;
    h.max_angular = 2, h.max_radial = 2, h.num_hidden_layers = 0;  // phi = LayerNorm(x), width D
    ad::Rng rng(2);
    nn::bpnn::SoapBpnn model(h, {1, 6, 8}, rng);
    ad::Tensor ref;
    {
        ad::NoGrad no_grad;
        ref = model.forward(nn::bpnn::make_batch(eth, h.cutoff)).last_layer_features;
    }
    const ad::Tensor got = uq::soap_bpnn_last_layer_features(model, eth, 2);
    REQUIRE(got.shape() == ref.shape());
    CHECK(ref.dim(1) == 3 * model.soap().n_features());
    CHECK(max_abs(got - ref) < 1e-12 * (1 + max_abs(ref)));  // rounding of the LayerNorm sums only
}
